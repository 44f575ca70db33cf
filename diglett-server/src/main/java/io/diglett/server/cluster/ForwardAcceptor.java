package io.diglett.server.cluster;

import io.diglett.common.logging.RateLimitedLog;
import io.diglett.protocol.Printable;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.node.NodeForward;
import io.diglett.server.link.Tunnel;
import io.diglett.protocol.FrameDecoder;
import io.diglett.protocol.FrameEncoder;
import io.diglett.protocol.mux.FlowLimits;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Heartbeat;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The holder's side of a forwarded connection (docs/protocol.md, section 10): says Hello, reads the other node's
 * Ask (at most {@link NodeForward#MAX_ASK} bytes, within {@link #DEADLINE}), checks it was made with the cluster's
 * secret for this connection's nonce and that the named tunnel is live here under the claim it names (a stale
 * holder refuses), then opens a stream to the agent as for a client of its own, with the client address the Ask
 * gave. Refusals are answered with the reason and closed. After the Answer it passes bytes through untouched.
 */
final class ForwardAcceptor extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(ForwardAcceptor.class);
    static final RateLimitedLog REFUSED = RateLimitedLog.perSecond(log);
    /** How long the other node has to send its Ask. */
    static final Duration DEADLINE = Duration.ofSeconds(5);

    private final EtcdNameRegistry names;
    private final byte[] secret;
    /** A node link's receive window per stream and its flow limits: the agent links'. */
    private final int window;
    private final FlowLimits flow;
    /** A node link's streams at most: the agent's (--max-streams-per-agent). */
    private final int maxStreams;
    private final byte[] nonce = new byte[NodeForward.NONCE_LENGTH];
    private ByteBuf ask;
    private boolean decided;
    private ScheduledFuture<?> deadline;
    /** Gives the connection's place among the handshaking back (once). */
    private Runnable handshakeDone;

    ForwardAcceptor(EtcdNameRegistry names, byte[] secret, int window, FlowLimits flow, int maxStreams,
                    Runnable handshakeDone) {
        this.names = names;
        this.secret = secret;
        this.window = window;
        this.flow = flow;
        this.maxStreams = maxStreams;
        this.handshakeDone = handshakeDone;
    }

    private void handshakeOver() {
        Runnable done = handshakeDone;
        handshakeDone = null;
        if (done != null) {
            done.run();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.writeAndFlush(NodeForward.hello(ctx.alloc(), nonce));
        deadline = ctx.executor().schedule(() -> refuse(ctx, "no forward ask within " + DEADLINE.toSeconds()
                + " s"), DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
        ctx.read();
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (decided) {
            ctx.fireChannelRead(msg); // the client's bytes, on to the stream
            return;
        }
        ByteBuf in = (ByteBuf) msg;
        try {
            if (ask == null) {
                ask = ctx.alloc().buffer(2 + NodeForward.MAX_ASK);
            }
            if (in.readableBytes() > ask.writableBytes()) {
                refuse(ctx, "forward ask longer than " + NodeForward.MAX_ASK + " bytes");
                return;
            }
            ask.writeBytes(in);
        } finally {
            ReferenceCountUtil.release(in);
        }
        if (ask.readableBytes() < 2) {
            ctx.read();
            return;
        }
        int length = ask.getUnsignedShort(ask.readerIndex());
        if (length > NodeForward.MAX_ASK) {
            refuse(ctx, "forward ask of " + length + " bytes");
            return;
        }
        if (ask.readableBytes() < 2 + length) {
            ctx.read();
            return;
        }
        if (ask.readableBytes() > 2 + length) {
            refuse(ctx, "bytes after the forward ask, before its answer");
            return;
        }
        NodeForward.Ask asked;
        try {
            asked = NodeForward.Ask.decode(ask.skipBytes(2), nonce, secret);
        } catch (ProtocolException e) {
            refuse(ctx, e.getMessage());
            return;
        } finally {
            ask.release();
            ask = null;
        }
        decided = true;
        deadline.cancel(false);
        handshakeOver();
        if (asked.kind() == NodeForward.Kind.PROBE) {
            ctx.writeAndFlush(NodeForward.probed(ctx.alloc(), names.storeUp(),
                            Math.round(names.storeSilentSeconds() * 1000), nonce, asked, secret))
                    .addListener(ChannelFutureListener.CLOSE);
            return;
        }
        if (names.partitioned()) {
            answer(ctx, "node " + names.node() + " cannot reach the cluster store, which the other nodes can");
            return;
        }
        if (asked.kind() == NodeForward.Kind.FORWARD) {
            answer(ctx, "node " + names.node() + " takes forwarded connections on node links only; upgrade the"
                    + " node that asked");
            return;
        }
        if (asked.kind() == NodeForward.Kind.ALIVE) {
            Tunnel holder = names.lookup(asked.name()).orElse(null);
            if (holder == null || holder.fence() != asked.fence()) {
                ctx.writeAndFlush(NodeForward.aliveAnswer(ctx.alloc(), false, nonce, asked, secret))
                        .addListener(ChannelFutureListener.CLOSE);
                return;
            }
            holder.agentAlive().whenComplete((alive, error) -> ctx.channel().eventLoop().execute(() ->
                    ctx.writeAndFlush(NodeForward.aliveAnswer(ctx.alloc(), Boolean.TRUE.equals(alive), nonce, asked,
                            secret)).addListener(ChannelFutureListener.CLOSE)));
            return;
        }
        Tunnel tunnel = names.lookup(asked.name()).filter(Tunnel::live).orElse(null);
        if (tunnel == null) {
            answer(ctx, "name '" + asked.name() + "' is not served by this node");
            return;
        }
        io.netty.channel.EventLoop linkLoop = tunnel.quietestLinkLoop();
        if (linkLoop == null || linkLoop == ctx.channel().eventLoop()) {
            link(ctx, asked);
            return;
        }
        // accepted on any loop: moved to the loop of one of the agent's links, so that the streams it carries
        // reach the agent's link without a hop between threads
        io.netty.channel.Channel channel = ctx.channel();
        channel.deregister().addListener(deregistered -> {
            if (!deregistered.isSuccess()) {
                channel.close();
                return;
            }
            linkLoop.register(channel).addListener(registered -> {
                if (!registered.isSuccess()) {
                    channel.close();
                } else {
                    link(ctx, asked);
                }
            });
        });
    }

    /**
     * Accepts the node link for {@code name}: the Answer, then the link's frames (docs/protocol.md, section 10)
     * with a heartbeat, handled by a {@link HolderLink}.
     */
    private void link(ChannelHandlerContext ctx, NodeForward.Ask asked) {
        String name = asked.name();
        // raw bytes, before the frame encoder is there; signed: the entry sends the name's clients on this
        ctx.writeAndFlush(NodeForward.linkAccepted(ctx.alloc(), nonce, asked, secret));
        io.netty.channel.Channel channel = ctx.channel();
        log.debug("node link from {} for '{}' accepted", channel.remoteAddress(), name);
        channel.config().setOption(io.netty.channel.ChannelOption.ALLOW_HALF_CLOSURE, false);
        channel.pipeline().replace(this, HandlerNames.FRAME_DECODER, new FrameDecoder());
        channel.pipeline().addAfter(HandlerNames.FRAME_DECODER, HandlerNames.FRAME_ENCODER, FrameEncoder.INSTANCE);
        channel.pipeline().addAfter(HandlerNames.FRAME_ENCODER, HandlerNames.KEEPALIVE,
                new Heartbeat(NodeForwarder.HEARTBEAT));
        channel.pipeline().addAfter(HandlerNames.KEEPALIVE, HandlerNames.SESSION,
                new HolderLink(names, name, window, flow, maxStreams));
        channel.config().setAutoRead(true);
    }

    /** The Ask was made; the name cannot be served here: the other node is told why, and the connection closed. */
    private void answer(ChannelHandlerContext ctx, String reason) {
        ctx.writeAndFlush(NodeForward.answer(ctx.alloc(), reason)).addListener(ChannelFutureListener.CLOSE);
    }

    /** Not a forwarded connection of this cluster: closed, with a line (at most one a second). */
    private void refuse(ChannelHandlerContext ctx, String reason) {
        if (decided) {
            return;
        }
        decided = true;
        handshakeOver();
        if (deadline != null) {
            deadline.cancel(false);
        }
        REFUSED.warn("forwarded connection from {} refused: {}", ctx.channel().remoteAddress(), Printable.of(reason));
        ctx.close();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (ask != null) {
            ask.release();
            ask = null;
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        handshakeOver();
        if (deadline != null) {
            deadline.cancel(false);
        }
        if (ask != null) {
            ask.release();
            ask = null;
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!decided) {
            refuse(ctx, cause.toString());
        } else {
            ctx.fireExceptionCaught(cause);
        }
    }
}
