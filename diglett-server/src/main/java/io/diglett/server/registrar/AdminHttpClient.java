package io.diglett.server.registrar;

import io.diglett.protocol.Reasons;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
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
 * A blocking HTTP/1.1 client for an admin API (Caddy's), over TCP or a unix socket, built on Netty's HTTP codec:
 * one request per connection ({@code Connection: close}), the whole answer within one deadline and a size cap.
 * Its one I/O thread is its own (NIO, which reaches unix sockets through the JDK), never a link's event loop;
 * callers block on it from a registrar's worker thread.
 */
public final class AdminHttpClient implements AutoCloseable {

    /** The most a response body may be. */
    static final int MAX_BODY = 1024 * 1024;

    private final Duration timeout;
    private final EventLoopGroup group;

    /** A client whose exchanges each take at most {@code timeout}, on a thread called {@code threadName}. */
    public AdminHttpClient(Duration timeout, String threadName) {
        this.timeout = timeout;
        this.group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory(threadName, true),
                NioIoHandler.newFactory());
    }

    /** A response: status and decoded body. */
    public record Response(int status, String body) {
        public boolean ok() {
            return status >= 200 && status < 300;
        }

        /** The body, trimmed to one short line, for error messages. */
        String excerpt() {
            String said = body.strip().replaceAll("\\s+", " ");
            return said.isEmpty() ? "(no body)" : said.length() <= 500 ? said : said.substring(0, 500) + "...";
        }
    }

    /** The request was not sent: the endpoint could not be reached. */
    static final class Unreached extends IOException {
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

    /**
     * Sends one request ({@code body} as JSON, or none) with {@code Host: host} to {@code address} and reads the
     * answer, all within the timeout.
     *
     * @throws IOException saying where, what and why, when there is no complete HTTP answer ({@link Unreached}
     *                     when nothing was sent)
     */
    public Response exchange(SocketAddress address, String host, String method, String path, String body)
            throws IOException {
        try {
            return send(address, host, method, path, body);
        } catch (IOException e) {
            throw explained(spell(address) + ": " + method + " " + path + ": ", e);
        }
    }

    /** {@code e} with {@code context} before its message, of the same kind. */
    static IOException explained(String context, IOException e) {
        String message = context + Reasons.of(e);
        return e instanceof Unreached ? new Unreached(message, e) : new IOException(message, e);
    }

    private Response send(SocketAddress address, String host, String method, String path, String body)
            throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        boolean unix = address instanceof UnixDomainSocketAddress;
        if (address instanceof InetSocketAddress inet && inet.isUnresolved()) {
            address = new InetSocketAddress(inet.getHostString(), inet.getPort()); // resolves: not on a loop
        }
        CompletableFuture<Response> answer = new CompletableFuture<>();
        Bootstrap bootstrap = new Bootstrap()
                .group(group)
                .channel(unix ? NioDomainSocketChannel.class : NioSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.max(1, timeout.toMillis()))
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline()
                                .addLast("http", new HttpClientCodec())
                                .addLast("aggregator", new HttpObjectAggregator(MAX_BODY))
                                .addLast("answer", new Answer(answer));
                    }
                });
        ChannelFuture connect = bootstrap.connect(address);
        Channel channel = connect.channel();
        try {
            if (!connect.await(remainingMillis(deadline), TimeUnit.MILLISECONDS)) {
                throw new Unreached("cannot connect (no answer within " + timeout.toMillis() + " ms)", null);
            }
            if (!connect.isSuccess()) {
                throw new Unreached("cannot connect (" + Reasons.of(unannotated(connect.cause())) + ")",
                        connect.cause());
            }
            channel.writeAndFlush(request(host, method, path, body)).addListener(f -> {
                if (!f.isSuccess()) {
                    answer.completeExceptionally(f.cause());
                }
            });
            return answer.get(remainingMillis(deadline), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (TimeoutException e) {
            throw new IOException("no answer within " + timeout.toMillis() + " ms", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof TooLongFrameException) {
                throw new IOException("answer larger than " + MAX_BODY + " bytes", cause);
            }
            throw cause instanceof IOException io ? io : new IOException(Reasons.of(cause), cause);
        } finally {
            channel.close();
        }
    }

    /** Netty adds the address to a failed connect's message; ours names it already. */
    private static Throwable unannotated(Throwable cause) {
        return cause.getClass().getName().startsWith("io.netty.channel.AbstractChannel$Annotated")
                && cause.getCause() != null ? cause.getCause() : cause;
    }

    private static long remainingMillis(long deadline) {
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
    }

    private static FullHttpRequest request(String host, String method, String path, String body) {
        ByteBuf content = body == null ? Unpooled.EMPTY_BUFFER : Unpooled.copiedBuffer(body, StandardCharsets.UTF_8);
        FullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(method), path,
                content);
        request.headers()
                .set(HttpHeaderNames.HOST, host)
                .set(HttpHeaderNames.ACCEPT, HttpHeaderValues.APPLICATION_JSON)
                .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        if (body != null) {
            request.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
        }
        if (body != null || !method.equals("GET")) {
            HttpUtil.setContentLength(request, content.readableBytes());
        }
        return request;
    }

    /** Completes {@code answer} with the first whole response, or with why there is none. */
    private static final class Answer extends SimpleChannelInboundHandler<FullHttpResponse> {
        private final CompletableFuture<Response> answer;

        Answer(CompletableFuture<Response> answer) {
            this.answer = answer;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse response) {
            if (response.decoderResult().isFailure()) {
                answer.completeExceptionally(new IOException("not an HTTP/1.1 answer: "
                        + Reasons.of(response.decoderResult().cause())));
            } else {
                answer.complete(new Response(response.status().code(),
                        response.content().toString(StandardCharsets.UTF_8)));
            }
            ctx.close();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            answer.completeExceptionally(cause instanceof PrematureChannelClosureException
                    ? new IOException("the connection closed before a complete answer", cause) : cause);
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            answer.completeExceptionally(new IOException("the connection closed before a complete answer"));
            ctx.fireChannelInactive();
        }
    }

    /** Stops the I/O thread. */
    @Override
    public void close() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
