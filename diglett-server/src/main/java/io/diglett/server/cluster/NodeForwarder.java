package io.diglett.server.cluster;

import io.diglett.common.transport.Transport;
import io.diglett.protocol.Printable;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.Reasons;
import io.diglett.protocol.mux.FlowLimits;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Stream;
import io.diglett.protocol.node.NodeForward;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The entry node's side of forwarding (docs/protocol.md, section 10). A public connection to a name another node
 * holds becomes a stream of a {@link NodeLink} to that node: one TCP connection per holder, name and event loop of
 * this node, dialled for the first such connection and closed once idle, that carries all of them multiplexed with
 * flow control, as an agent's link does. Probes and alive checks (whether another node reaches the cluster store,
 * whether a holder's agent answers) are short connections of their own, answered under the cluster secret.
 */
public final class NodeForwarder implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(NodeForwarder.class);
    /** A holder that refuses or cannot be reached refuses every client of its names: one line a second. */
    static final io.diglett.common.logging.RateLimitedLog NOT_FORWARDED =
            io.diglett.common.logging.RateLimitedLog.perSecond(log);
    /** How long dialing another node and its handshake may take. */
    static final Duration DEADLINE = Duration.ofSeconds(5);
    /** A node link's heartbeat: a Ping after this long silent; dead after three. */
    static final Duration HEARTBEAT = Duration.ofSeconds(5);
    /** A node link's write buffer marks: its streams wait above the high one (as on an agent's link). */
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(128 * 1024, 256 * 1024);

    private final Transport transport;
    private final byte[] secret;
    /** Where probes run. */
    private final io.netty.channel.EventLoopGroup group;
    /** A node link's receive window per stream, and the limits of its streams: the agent links'. */
    private final int window;
    private final FlowLimits flow;
    /** This node's node links, by holder, name and event loop. */
    private final ConcurrentMap<LinkKey, NodeLink> links = new ConcurrentHashMap<>();
    private volatile boolean closed;

    private record LinkKey(InetSocketAddress address, String name, EventLoop loop) {
    }

    public NodeForwarder(Transport transport, byte[] secret, io.netty.channel.EventLoopGroup group, int window,
                         FlowLimits flow) {
        this.transport = transport;
        this.secret = secret.clone();
        this.group = group;
        this.window = window;
        this.flow = flow;
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

    /**
     * Carries {@code client} to {@code target}'s holder as a stream of the node link of the client's event loop
     * for that name (dialled now if there is none); {@code done} gets {@code null} once the stream is on its way,
     * or why it cannot be. A refusal of the holder (a stale claim) comes later, as a reset of the stream.
     */
    void forward(RemoteName target, Channel client, Stream.LocalEnd end, Consumer<String> done) {
        EventLoop loop = client.eventLoop();
        if (!loop.inEventLoop()) {
            loop.execute(() -> forward(target, client, end, done));
            return;
        }
        if (closed) {
            done.accept("this node is stopping");
            return;
        }
        LinkKey key = new LinkKey(target.address(), target.name(), loop);
        NodeLink link = links.get(key);
        if (link == null) {
            link = dial(key, target.holder().node());
            if (closed) {
                link.close(); // close() may have gone through the table before this link was in it
            }
        }
        link.open(target.holder().fence(), client, end, done);
    }

    private NodeLink dial(LinkKey key, String node) {
        NodeLink[] made = new NodeLink[1];
        NodeLink link = new NodeLink(key.name(), node, secret, window, flow, () -> links.remove(key, made[0]));
        made[0] = link;
        links.put(key, link);
        Bootstrap bootstrap = new Bootstrap().group(key.loop()).channel(transport.socketChannel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) DEADLINE.toMillis())
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(HandlerNames.HANDSHAKE, link.dialer());
                    }
                });
        ChannelFuture connect = bootstrap.connect(key.address());
        link.connecting(connect.channel());
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                String reason = "node " + node + " (" + key.address() + ") that holds '" + key.name()
                        + "' cannot be reached: " + Printable.of(Reasons.of(f.cause()));
                NOT_FORWARDED.warn("node link for '{}': {}", key.name(), reason);
                link.dialFailed(reason);
            }
        });
        return link;
    }

    /** Closes every node link: their streams are reset. */
    @Override
    public void close() {
        closed = true;
        links.values().forEach(NodeLink::close);
    }
}
