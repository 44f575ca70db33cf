package io.diglett.server.registrar;

import io.diglett.protocol.Reasons;
import io.diglett.common.transport.EventLoops;
import io.diglett.common.transport.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A small blocking HTTP/1.1 client for a local service's admin API (Caddy's), over TCP or a unix domain socket,
 * built on Netty's HTTP codec: one request per connection ({@code Connection: close}), the answer's body
 * aggregated up to {@link #MAX_BODY} bytes, everything within one deadline. One event-loop thread of its own does
 * the I/O, with the {@link Transport} given (its own domain socket channel for a unix socket). {@link #exchange}
 * blocks until the answer: call it from a worker thread, never from an event loop.
 */
public final class AdminHttpClient implements AutoCloseable {

    /** The largest body an answer may have. */
    static final int MAX_BODY = 1024 * 1024;
    /** The longest status line and the most header bytes an answer may have. */
    private static final int MAX_STATUS_LINE = 4096;
    private static final int MAX_HEADERS = 16 * 1024;
    /** The most characters of an answer's body an error message quotes. */
    static final int MAX_EXCERPT = 500;

    private final Transport transport;
    private final EventLoopGroup group;

    /** A client doing its I/O with {@code transport} on a daemon thread called {@code threadName}. */
    public AdminHttpClient(Transport transport, String threadName) {
        this.transport = transport;
        this.group = transport.newGroup(1, threadName);
    }

    /** An answer: its status and its body, decoded as UTF-8. */
    public record Response(int status, String body) {

        public boolean ok() {
            return status >= 200 && status < 300;
        }

        /** The body on one short line, escaped, for error messages (which reach logs and agents). */
        String excerpt() {
            String said = body.strip().replaceAll("\\s+", " ");
            return said.isEmpty() ? "(no body)" : printable(said, MAX_EXCERPT);
        }
    }

    /** The request was not sent: the endpoint could not be reached. */
    public static final class Unreached extends IOException {
        private static final long serialVersionUID = 1L;

        Unreached(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** {@code unix//PATH} or {@code HOST:PORT}: how messages name {@code address}. */
    public static String spell(SocketAddress address) {
        if (address instanceof UnixDomainSocketAddress unix) {
            return "unix/" + unix.getPath();
        }
        InetSocketAddress inet = (InetSocketAddress) address;
        String host = inet.getHostString();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + inet.getPort();
    }

    /** {@code e} with {@code context} before its message, of the same kind. */
    static IOException explained(String context, IOException e) {
        String message = context + Reasons.of(e);
        return e instanceof Unreached ? new Unreached(message, e) : new IOException(message, e);
    }

    /**
     * Sends one request to {@code address} (a {@link UnixDomainSocketAddress} or an {@link InetSocketAddress},
     * resolved here if it is not) with {@code Host: host} and {@code body} as JSON (or none), and waits for the
     * answer, all within {@code timeout}.
     *
     * @throws Unreached saying where, what and why, when the endpoint cannot be reached (nothing was sent)
     * @throws IOException saying where, what and why, when there is no complete answer
     */
    public Response exchange(SocketAddress address, String host, String method, String path, String body,
                      Duration timeout) throws IOException {
        try {
            return exchange(address, host, HttpMethod.valueOf(method), path, body, timeout);
        } catch (IOException e) {
            throw explained(spell(address) + ": " + method + " " + path + ": ", e);
        }
    }

    private Response exchange(SocketAddress address, String host, HttpMethod method, String path, String body,
                              Duration timeout) throws IOException {
        if (group.next().inEventLoop()) {
            throw new IllegalStateException("an exchange waits for its own event loop: call it from another thread");
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        String late = "no answer within " + timeout.toMillis() + " ms";
        SocketAddress remote = connectable(address);
        CompletableFuture<Response> answer = new CompletableFuture<>();
        ChannelFuture connect = new Bootstrap()
                .group(group)
                .channel(address instanceof UnixDomainSocketAddress ? transport.domainSocketChannel()
                        : transport.socketChannel())
                .disableResolver() // resolved above, off the event loop
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()))
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel channel) {
                        initialize(channel.pipeline(), answer);
                    }
                })
                .connect(remote);
        connect.addListener((ChannelFuture connected) -> {
            if (!connected.isSuccess()) {
                Throwable cause = connected.cause();
                answer.completeExceptionally(cause instanceof ConnectTimeoutException ? new Unreached(late, cause)
                        : new Unreached("cannot connect (" + connectFailure(cause, remote) + ")", cause));
            } else if (answer.isDone()) {
                connected.channel().close(); // given up meanwhile
            } else {
                connected.channel().writeAndFlush(request(connected.channel().alloc(), host, method, path, body))
                        .addListener((ChannelFuture sent) -> {
                            if (!sent.isSuccess()) {
                                answer.completeExceptionally(new IOException("cannot send the request ("
                                        + Reasons.of(sent.cause()) + ")", sent.cause()));
                            }
                        });
            }
        });
        try {
            return answer.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw connect.isSuccess() ? new IOException(late, e) : new Unreached(late, e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(Reasons.of(e.getCause()), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            InterruptedIOException interrupted = new InterruptedIOException("interrupted");
            interrupted.initCause(e);
            throw interrupted;
        } finally {
            answer.cancel(false); // done, if it was not: a connection made after all is closed at once
            connect.cancel(false);
            connect.channel().close();
        }
    }

    /** {@code address} as the transport connects to it: a host name resolved (here, never on the event loop). */
    private SocketAddress connectable(SocketAddress address) throws Unreached {
        if (address instanceof UnixDomainSocketAddress unix) {
            return transport.domainAddress(unix);
        }
        InetSocketAddress inet = (InetSocketAddress) address;
        if (inet.isUnresolved()) {
            inet = new InetSocketAddress(inet.getHostString(), inet.getPort());
            if (inet.isUnresolved()) {
                throw new Unreached("cannot connect (unknown host " + inet.getHostString() + ")", null);
            }
        }
        return inet;
    }

    /**
     * Why a connection failed, as the operating system says it ({@code No such file or directory}), without
     * the system call and address Netty's native transport adds around it.
     */
    static String connectFailure(Throwable cause, SocketAddress remote) {
        if (cause instanceof FileNotFoundException && cause.getMessage() == null) {
            return "No such file or directory"; // epoll's ENOENT, without a word
        }
        String why = Reasons.of(cause);
        String suffix = ": " + remote;
        if (why.endsWith(suffix)) {
            why = why.substring(0, why.length() - suffix.length());
        }
        if (remote instanceof DomainSocketAddress domain && why.endsWith(": " + domain.path())) {
            why = why.substring(0, why.length() - domain.path().length() - 2);
        }
        return why.replaceFirst("^[A-Za-z_]+\\(\\.\\.\\) failed( with error\\(-?[0-9]+\\))?: ", "");
    }

    /** The request: {@code body} as JSON (or none), {@code Host: host}, the connection closed after it. */
    static FullHttpRequest request(ByteBufAllocator alloc, String host, HttpMethod method, String path,
                                   String body) {
        ByteBuf content = body == null ? Unpooled.EMPTY_BUFFER : ByteBufUtil.writeUtf8(alloc, body);
        FullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, path, content);
        HttpHeaders headers = request.headers()
                .set(HttpHeaderNames.HOST, host) // Caddy wants an empty one on a unix socket
                .set(HttpHeaderNames.ACCEPT, HttpHeaderValues.APPLICATION_JSON)
                .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        if (body != null) {
            headers.set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
        }
        if (body != null || !HttpMethod.GET.equals(method)) {
            headers.setInt(HttpHeaderNames.CONTENT_LENGTH, content.readableBytes());
        }
        return request;
    }

    /** Sets up {@code pipeline} to read one answer into {@code answer} (or why there is none) and close. */
    static void initialize(ChannelPipeline pipeline, CompletableFuture<Response> answer) {
        pipeline.addLast(new HttpClientCodec(MAX_STATUS_LINE, MAX_HEADERS, 16 * 1024),
                new HttpObjectAggregator(MAX_BODY), new Answer(answer));
    }

    /** Completes the exchange with the aggregated answer, or with why there is none. */
    private static final class Answer extends SimpleChannelInboundHandler<FullHttpResponse> {
        private final CompletableFuture<Response> answer;

        Answer(CompletableFuture<Response> answer) {
            super(FullHttpResponse.class);
            this.answer = answer;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse response) {
            if (response.decoderResult().isFailure()) {
                Throwable cause = response.decoderResult().cause();
                fail(ctx, new IOException("no valid HTTP answer (" + printable(Reasons.of(cause), MAX_EXCERPT) + ")",
                        cause));
                return;
            }
            answer.complete(new Response(response.status().code(),
                    response.content().toString(StandardCharsets.UTF_8)));
            ctx.close();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(ctx, cause instanceof TooLongFrameException
                    ? new IOException("answer larger than " + MAX_BODY + " bytes", cause)
                    : cause instanceof PrematureChannelClosureException ? closedEarly(cause)
                    : new IOException(printable(Reasons.of(cause), MAX_EXCERPT), cause));
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            answer.completeExceptionally(closedEarly(null));
            ctx.fireChannelInactive();
        }

        private static IOException closedEarly(Throwable cause) {
            return new IOException("connection closed before a complete answer", cause);
        }

        private void fail(ChannelHandlerContext ctx, IOException why) {
            answer.completeExceptionally(why);
            ctx.close();
        }
    }

    /** {@code text}, at most {@code max} characters of it, with what is not printable ASCII escaped. */
    static String printable(String text, int max) {
        StringBuilder out = new StringBuilder(Math.min(text.length(), max) + 3);
        for (int i = 0; i < text.length() && i < max; i++) {
            char c = text.charAt(i);
            if (c >= 0x20 && c < 0x7f) {
                out.append(c);
            } else {
                out.append(String.format(java.util.Locale.ROOT, "\\u%04x", (int) c));
            }
        }
        return text.length() > max ? out.append("...").toString() : out.toString();
    }

    /** Closes the connections still open and stops the I/O thread. */
    @Override
    public void close() {
        EventLoops.stop(group, 5, TimeUnit.SECONDS);
    }
}
