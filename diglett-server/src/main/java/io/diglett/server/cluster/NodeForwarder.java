package io.diglett.server.cluster;

import io.diglett.common.transport.Transport;
import io.diglett.protocol.Printable;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Stream;
import io.diglett.protocol.node.NodeForward;
import io.diglett.server.link.ClientAddress;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The entry node's side of forwarding (docs/protocol.md, section 10): for a public connection to a name another
 * node holds, it dials that node's {@code --node-listen} address from the client's own event loop, answers its
 * Hello with the Ask (the name, the holder's claim, the client's addresses, under the cluster secret), and once
 * the holder accepts, relays bytes both ways ({@link NodeRelay}) with the same backpressure as a stream: neither
 * side is read while the other cannot take more. The client's half-close and the holder's are passed on.
 */
public final class NodeForwarder {

    private static final Logger log = LoggerFactory.getLogger(NodeForwarder.class);
    /** How long dialing the holder and its handshake may take. */
    /** A holder that refuses or cannot be reached refuses every client of its names: one line a second. */
    private static final io.diglett.common.logging.RateLimitedLog NOT_FORWARDED =
            io.diglett.common.logging.RateLimitedLog.perSecond(log);
    static final Duration DEADLINE = Duration.ofSeconds(5);
    /** Bytes held for a side that does not take them: reading the other side pauses above the high mark. */
    /**
     * What the Dialer holds before the relay: the Hello, the Answer and what one read brings after it (the
     * backend's first bytes when it speaks first; a read with auto-read off is at most 64 KiB).
     */
    private static final int MAX_HANDSHAKE_READ = NodeForward.HELLO_LENGTH + 3 + NodeForward.MAX_REASON + 128 * 1024;
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(128 * 1024, 256 * 1024);

    private final Transport transport;
    private final byte[] secret;
    /** Where probes run. */
    private final io.netty.channel.EventLoopGroup group;

    public NodeForwarder(Transport transport, byte[] secret, io.netty.channel.EventLoopGroup group) {
        this.transport = transport;
        this.secret = secret.clone();
        this.group = group;
    }

    /** What a probed node said about the cluster store. */
    enum Probed {
        /** It heard the store after this node last did: this node alone is cut off. */
        REACHES,
        /** It answered, and does not reach the store either (or heard it no later than this node). */
        DOWN_TOO,
        /** No answer with this cluster's secret within {@link #DEADLINE}. */
        SILENT
    }

    /** Asks the node at {@code address} whether it reaches the cluster store. */
    java.util.concurrent.CompletableFuture<Probed> probe(InetSocketAddress address, long silentMillis) {
        // it reaches the store only if it heard it after this node last did (a second of margin): a node whose
        // keepalive has not failed yet in an outage of everyone's still says "up", with an old time
        return ask(address, NodeForward.Ask.probe()).thenApply(reason -> {
            if (reason.isEmpty()) {
                return Probed.SILENT;
            }
            long heard = NodeForward.heardMillisAgo(reason.get());
            return heard >= 0 && heard + 1_000 < silentMillis ? Probed.REACHES : Probed.DOWN_TOO;
        });
    }

    /**
     * Asks the node at {@code address} whether the agent of {@code name} (claim {@code fence}) answers: completes
     * with {@code false} if the node says it does not (or holds no such claim), {@code true} if it says it does,
     * or does not answer within {@link #DEADLINE} (then nobody can tell, and the holder keeps the name).
     */
    java.util.concurrent.CompletableFuture<Boolean> alive(InetSocketAddress address, String name, long fence) {
        return ask(address, NodeForward.Ask.alive(name, fence))
                .thenApply(reason -> reason.map(NodeForward.AGENT_ALIVE::equals).orElse(true));
    }

    /**
     * Sends {@code question} to the node at {@code address}: completes with the reason of its accepted, MAC-checked
     * Answer, or empty when it does not give one within {@link #DEADLINE}.
     */
    private java.util.concurrent.CompletableFuture<java.util.Optional<String>> ask(InetSocketAddress address,
                                                                                  NodeForward.Ask question) {
        java.util.Optional<String> unanswered = java.util.Optional.empty();
        java.util.concurrent.CompletableFuture<java.util.Optional<String>> answer =
                new java.util.concurrent.CompletableFuture<>();
        Bootstrap bootstrap = new Bootstrap().group(group).channel(transport.socketChannel())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) DEADLINE.toMillis())
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new Prober(answer, question));
                    }
                });
        ChannelFuture connect = bootstrap.connect(address);
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                answer.complete(unanswered);
            } else {
                connect.channel().eventLoop().schedule(() -> {
                    answer.complete(unanswered);
                    connect.channel().close();
                }, DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            }
        });
        return answer;
    }

    /** Reads the Hello, sends a question (a probe, an alive check), reads the Answer. */
    private final class Prober extends ChannelInboundHandlerAdapter {
        private final java.util.concurrent.CompletableFuture<java.util.Optional<String>> answer;
        private final NodeForward.Ask question;
        private final ByteBuf in = io.netty.buffer.Unpooled.buffer(NodeForward.HELLO_LENGTH + 3
                + NodeForward.MAX_REASON + NodeForward.ANSWER_MAC_LENGTH);
        private boolean asked;
        private byte[] nonce;

        Prober(java.util.concurrent.CompletableFuture<java.util.Optional<String>> answer, NodeForward.Ask question) {
            this.answer = answer;
            this.question = question;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf bytes = (ByteBuf) msg;
            try {
                if (bytes.readableBytes() > in.writableBytes()) {
                    ctx.close();
                    return;
                }
                in.writeBytes(bytes);
            } finally {
                ReferenceCountUtil.release(bytes);
            }
            try {
                if (!asked && in.readableBytes() >= NodeForward.HELLO_LENGTH) {
                    nonce = NodeForward.readHello(in);
                    ctx.writeAndFlush(question.encode(ctx.alloc(), nonce, secret));
                    asked = true;
                }
                if (asked && in.readableBytes() >= 3 && in.readableBytes()
                        >= 3 + in.getUnsignedShort(in.readerIndex() + 1) + NodeForward.ANSWER_MAC_LENGTH) {
                    int start = in.readerIndex();
                    int status = in.readUnsignedByte();
                    int length = in.readUnsignedShort();
                    String reason = in.readCharSequence(length, StandardCharsets.UTF_8).toString();
                    byte[] expected = NodeForward.answerMac(secret, nonce, question, in, start, 3 + length);
                    byte[] given = new byte[NodeForward.ANSWER_MAC_LENGTH];
                    in.readBytes(given);
                    if (!java.security.MessageDigest.isEqual(expected, given)) {
                        log.warn("cluster: an answer from {} was not made with this cluster's secret; ignored",
                                ctx.channel().remoteAddress());
                        ctx.close(); // unanswered
                        return;
                    }
                    answer.complete(status == 0 ? java.util.Optional.of(reason) : java.util.Optional.empty());
                    ctx.close();
                }
            } catch (ProtocolException e) {
                ctx.close();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            in.release();
            answer.complete(java.util.Optional.empty());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /** Forwards {@code client} to {@code target}'s holder; {@code done} gets null once bytes flow, or why not. */
    void forward(RemoteName target, Channel client, Stream.LocalEnd end, Consumer<String> done) {
        if (!client.eventLoop().inEventLoop()) {
            client.eventLoop().execute(() -> forward(target, client, end, done));
            return;
        }
        Dialer dialer = new Dialer(target, client, end, done);
        Bootstrap bootstrap = new Bootstrap().group(client.eventLoop()).channel(transport.socketChannel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) DEADLINE.toMillis())
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(HandlerNames.SESSION, dialer);
                    }
                });
        ChannelFuture connect = bootstrap.connect(target.address());
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                dialer.fail("node " + target.holder().node() + " (" + target.address() + ") that holds '"
                        + target.name() + "' cannot be reached: " + Printable.of(String.valueOf(f.cause().getMessage())));
            }
        });
        client.closeFuture().addListener(f -> connect.channel().close());
    }

    /** Reads the holder's Hello, sends the Ask, reads the Answer; then puts the relay in place. */
    private final class Dialer extends ChannelInboundHandlerAdapter {
        private final RemoteName target;
        private final Channel client;
        private final Stream.LocalEnd end;
        private final Consumer<String> done;
        private ByteBuf in;
        private ChannelHandlerContext ctx;
        private boolean asked;
        private boolean finished;
        private ScheduledFuture<?> deadline;

        Dialer(RemoteName target, Channel client, Stream.LocalEnd end, Consumer<String> done) {
            this.target = target;
            this.client = client;
            this.end = end;
            this.done = done;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            deadline = ctx.executor().schedule(() -> fail("node " + target.holder().node() + " did not answer within "
                    + DEADLINE.toSeconds() + " s"), DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            in = ctx.alloc().buffer(NodeForward.HELLO_LENGTH + 3 + NodeForward.MAX_REASON, MAX_HANDSHAKE_READ);
            ctx.read();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf bytes = (ByteBuf) msg;
            try {
                if (finished || bytes.readableBytes() > in.maxWritableBytes()) {
                    fail("node " + target.holder().node() + " sent more than a forwarding answer and one read");
                    return;
                }
                in.writeBytes(bytes);
            } finally {
                ReferenceCountUtil.release(bytes);
            }
            try {
                if (!asked) {
                    if (in.readableBytes() < NodeForward.HELLO_LENGTH) {
                        ctx.read();
                        return;
                    }
                    byte[] nonce = NodeForward.readHello(in);
                    InetSocketAddress from = (InetSocketAddress) ClientAddress.remote(client);
                    InetSocketAddress to = (InetSocketAddress) ClientAddress.local(client);
                    ctx.writeAndFlush(new NodeForward.Ask(target.name(), target.holder().fence(), from, to)
                            .encode(ctx.alloc(), nonce, secret));
                    asked = true;
                }
                if (in.readableBytes() < 3) {
                    ctx.read();
                    return;
                }
                int length = in.getUnsignedShort(in.readerIndex() + 1);
                if (length > NodeForward.MAX_REASON) {
                    fail("node " + target.holder().node() + " sent a forwarding answer of " + length + " bytes");
                    return;
                }
                if (in.readableBytes() < 3 + length) {
                    ctx.read();
                    return;
                }
                int status = in.readUnsignedByte();
                in.skipBytes(2);
                String reason = in.readCharSequence(length, StandardCharsets.UTF_8).toString();
                if (status != 0) {
                    fail("node " + target.holder().node() + " refused: " + Printable.of(reason));
                    return;
                }
                finished = true;
                deadline.cancel(false);
                // the backend may speak first (a banner): its first bytes can come in the Answer's read
                ByteBuf early = in.isReadable() ? in.readRetainedSlice(in.readableBytes()) : null;
                release();
                NodeRelay.join(client, ctx.channel(), end);
                done.accept(null);
                if (early != null) {
                    ctx.channel().pipeline().fireChannelRead(early).fireChannelReadComplete();
                }
            } catch (ProtocolException e) {
                fail(e.getMessage());
            }
        }

        void fail(String reason) {
            if (finished) {
                return;
            }
            finished = true;
            if (deadline != null) {
                deadline.cancel(false);
            }
            release();
            NOT_FORWARDED.warn("name={} client={} not forwarded: {}", target.name(), ClientAddress.remote(client),
                    reason);
            done.accept(reason);
            if (ctx != null) {
                ctx.close();
            }
        }

        private void release() {
            if (in != null) {
                in.release();
                in = null;
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            fail("node " + target.holder().node() + " closed the forwarded connection");
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail("node " + target.holder().node() + ": " + Printable.of(String.valueOf(cause.getMessage())));
            ctx.close();
        }
    }
}
