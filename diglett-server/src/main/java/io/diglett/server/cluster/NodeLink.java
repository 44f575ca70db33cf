package io.diglett.server.cluster;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameDecoder;
import io.diglett.protocol.FrameEncoder;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Handshake;
import io.diglett.protocol.Printable;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.Requests;
import io.diglett.protocol.Signals;
import io.diglett.protocol.mux.FlowLimits;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Heartbeat;
import io.diglett.protocol.mux.LinkSession;
import io.diglett.protocol.mux.Stream;
import io.diglett.protocol.mux.StreamObserver;
import io.diglett.protocol.mux.StreamState;
import io.diglett.protocol.node.NodeForward;
import io.diglett.server.link.ClientAddress;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The entry's side of a node link (docs/protocol.md, section 10): one TCP connection to the node holding a name,
 * from one event loop of this node, that carries every public connection of that name this loop accepted, each a
 * stream with credit-based flow control as on an agent's link. Its first bytes are the forwarding handshake (the
 * holder's Hello, a LINK Ask under the cluster secret, the holder's Answer: {@link Dialer}); then frames, with a
 * heartbeat. Connections that come while the handshake runs wait for it (at most {@link #MAX_WAITING}). A link
 * that has carried no stream for {@link #IDLE} closes. Everything runs on the link's event loop, which is the
 * loop of its clients' sockets.
 */
final class NodeLink extends LinkSession {

    private static final Logger log = LoggerFactory.getLogger(NodeLink.class);
    /** Public connections that may wait for a link's handshake; more are refused. */
    static final int MAX_WAITING = 1024;
    /** Streams a link may have open on this side; more connections are refused. */
    static final int MAX_STREAMS = 16_384;
    /** A link without streams for this long closes. */
    static final long IDLE_MILLIS = 30_000;

    private final String name;
    private final String node;
    private final byte[] secret;
    /** Takes the link out of its forwarder's table (once). */
    private Runnable gone;
    private final ArrayDeque<Waiting> waiting = new ArrayDeque<>();
    private boolean ready;
    /** Why the link takes no stream any more, once it does not. */
    private String ended;
    private int nextId = 1;
    private ScheduledFuture<?> idleTimer;
    private long lastBusy;
    /** The link's connection, once it is being made. */
    private volatile Channel channel;

    private record Waiting(long fence, Channel client, Stream.LocalEnd end, Consumer<String> done) {
    }

    NodeLink(String name, String node, byte[] secret, int window, FlowLimits flow, Runnable gone) {
        super(window, flow);
        this.name = name;
        this.node = node;
        this.secret = secret;
        this.gone = gone;
    }

    /** The link's connection is being made on {@code channel}. */
    void connecting(Channel channel) {
        this.channel = channel;
    }

    /** Closes the link (its streams are reset), or its connection being made. */
    void close() {
        Channel connection = channel;
        if (connection != null) {
            connection.close();
        }
    }

    /** The handler that runs the forwarding handshake on the link's new connection, before this session. */
    ChannelInboundHandlerAdapter dialer() {
        return new Dialer();
    }

    /**
     * Carries {@code client} to the holder as a stream of this link; {@code done} gets {@code null} once its Open
     * is sent, or why it cannot be. Call on the link's loop.
     */
    void open(long fence, Channel client, Stream.LocalEnd end, Consumer<String> done) {
        if (ended != null) {
            done.accept(ended);
        } else if (!ready) {
            if (waiting.size() >= MAX_WAITING) {
                done.accept(MAX_WAITING + " connections already wait for the node link to node " + node);
            } else {
                waiting.add(new Waiting(fence, client, end, done));
            }
        } else {
            openNow(fence, client, end, done);
        }
    }

    private void openNow(long fence, Channel client, Stream.LocalEnd end, Consumer<String> done) {
        if (mux.size() >= MAX_STREAMS) {
            done.accept("node link to node " + node + " busy: " + mux.size() + " streams open");
            return;
        }
        int id = nextId();
        lastBusy = System.nanoTime();
        Stream stream = mux.create(id, name, StreamObserver.NONE,
                io.diglett.server.link.ClientConnections.Source.of(ClientAddress.remote(client)));
        stream.attach(client, end);
        if (stream.state() != StreamState.CLOSED) {
            mux.write(new NodeForward.Open(stream.window(), fence, (InetSocketAddress) ClientAddress.remote(client),
                    (InetSocketAddress) ClientAddress.local(client)).encode(ctx.alloc(), id));
            mux.flushLinkLater();
        }
        done.accept(null);
    }

    private int nextId() {
        while (nextId == Protocol.CONNECTION_ID || mux.contains(nextId)) {
            nextId++;
        }
        return nextId++;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        super.handlerAdded(ctx);
        ready = true;
        lastBusy = System.nanoTime();
        idleTimer = ctx.executor().scheduleAtFixedRate(this::closeIfIdle, IDLE_MILLIS, IDLE_MILLIS / 2,
                TimeUnit.MILLISECONDS);
        Waiting next;
        while ((next = waiting.poll()) != null) {
            openNow(next.fence(), next.client(), next.end(), next.done());
        }
    }

    private void closeIfIdle() {
        if (mux.size() > 0) {
            lastBusy = System.nanoTime();
        } else if (ended == null && System.nanoTime() - lastBusy >= TimeUnit.MILLISECONDS.toNanos(IDLE_MILLIS)) {
            end("idle for " + IDLE_MILLIS / 1000 + " s");
            log.debug("node link to node {} for '{}' idle, closing", node, name);
            ctx.close();
        }
    }

    /** Takes no stream from now on, and leaves the forwarder's table (a new link is dialled for the next). */
    private void end(String reason) {
        if (ended == null) {
            ended = "node link to node " + node + " closed: " + reason;
        }
        Runnable leave = gone;
        gone = null;
        if (leave != null) {
            leave.run();
        }
        Waiting next;
        while ((next = waiting.poll()) != null) {
            next.done().accept(ended);
        }
    }

    @Override
    protected void onHandshake(Handshake handshake) {
        throw new ProtocolException("no handshake on a node link");
    }

    @Override
    protected boolean streamsAllowed() {
        return true;
    }

    @Override
    protected String peer() {
        return "node " + node + " (" + super.peer() + ")";
    }

    @Override
    protected void onFrame(Frame frame) {
        switch (frame.kind()) {
            case OK -> {
                Stream stream = mux.get(frame.id());
                if (stream != null) {
                    stream.opened(Requests.Opened.decode(frame).window());
                }
            }
            case ERROR -> {
                String reason = Signals.Reason.decode(frame).text();
                if (frame.id() == Protocol.CONNECTION_ID) {
                    log.warn("node link to {} for '{}': the node reported an error: {}", peer(), name,
                            Printable.of(reason));
                    end(Printable.of(reason));
                    ctx.close();
                    return;
                }
                Stream stream = mux.get(frame.id());
                if (stream != null) {
                    NodeForwarder.NOT_FORWARDED.warn("name={} client={} not forwarded: node {} refused: {}", name,
                            stream.local() == null ? "?" : ClientAddress.remote(stream.local()), node,
                            Printable.of(reason));
                    stream.reset(reason, false);
                }
            }
            case TERMINATE -> {
                end("the node ends it: " + Printable.of(Signals.Reason.decode(frame).text()));
                ctx.close();
            }
            default -> fail("unexpected " + frame.kind() + " frame on a node link");
        }
    }

    @Override
    protected void logEnd(String reason) {
        log.warn("closing the node link to {} for '{}': {}", peer(), name, Printable.of(reason));
        end(Printable.of(reason)); // a failed link takes no stream in its last second
    }

    @Override
    protected void onClosed() {
        end("connection lost");
        if (idleTimer != null) {
            idleTimer.cancel(false);
        }
    }

    /** The handshake failed or the connection could not be made: whoever waits is told why. */
    void dialFailed(String reason) {
        end(reason);
    }

    /**
     * Reads the holder's Hello, sends the LINK Ask, reads the Answer; then puts the link's frame handlers and the
     * session in its place. What follows the Answer in the same read is the link's first frames.
     */
    private final class Dialer extends ChannelInboundHandlerAdapter {
        private final ByteBuf in = io.netty.buffer.Unpooled.buffer(NodeForward.HELLO_LENGTH + 3
                + NodeForward.MAX_REASON, NodeForward.HELLO_LENGTH + 3 + NodeForward.MAX_REASON + 64 * 1024);
        private boolean asked;
        private boolean finished;
        private ScheduledFuture<?> deadline;
        private byte[] nonce;
        private final NodeForward.Ask ask = NodeForward.Ask.link(name);

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            deadline = ctx.executor().schedule(() -> fail(ctx, "node " + node + " did not answer within "
                    + NodeForwarder.DEADLINE.toSeconds() + " s"), NodeForwarder.DEADLINE.toMillis(),
                    TimeUnit.MILLISECONDS);
            ctx.read();
            ctx.fireChannelActive();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf bytes = (ByteBuf) msg;
            try {
                if (finished || bytes.readableBytes() > in.maxWritableBytes()) {
                    fail(ctx, "node " + node + " sent more than a handshake");
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
                    nonce = NodeForward.readHello(in);
                    ctx.writeAndFlush(ask.encode(ctx.alloc(), nonce, secret));
                    asked = true;
                }
                if (in.readableBytes() < 3 || in.readableBytes() < 3 + in.getUnsignedShort(in.readerIndex() + 1)
                        + (in.getUnsignedByte(in.readerIndex()) == 0 ? NodeForward.ANSWER_MAC_LENGTH : 0)) {
                    ctx.read();
                    return;
                }
                int start = in.readerIndex();
                int status = in.readUnsignedByte();
                int length = in.readUnsignedShort();
                String reason = in.readCharSequence(length, StandardCharsets.UTF_8).toString();
                if (status != 0) {
                    fail(ctx, "node " + node + " refused: " + Printable.of(reason));
                    return;
                }
                byte[] expected = NodeForward.answerMac(secret, nonce, ask, in, start, 3 + length);
                byte[] given = new byte[NodeForward.ANSWER_MAC_LENGTH];
                in.readBytes(given);
                if (!java.security.MessageDigest.isEqual(expected, given)) {
                    fail(ctx, "node " + node + " accepted the link without this cluster's secret");
                    return;
                }
                finished = true;
                deadline.cancel(false);
                ByteBuf first = in.isReadable() ? in.readRetainedSlice(in.readableBytes()) : null;
                Channel channel = ctx.channel();
                channel.pipeline().replace(this, HandlerNames.FRAME_DECODER, new FrameDecoder());
                channel.pipeline().addAfter(HandlerNames.FRAME_DECODER, HandlerNames.FRAME_ENCODER,
                        FrameEncoder.INSTANCE);
                channel.pipeline().addAfter(HandlerNames.FRAME_ENCODER, HandlerNames.KEEPALIVE,
                        new Heartbeat(NodeForwarder.HEARTBEAT));
                channel.pipeline().addAfter(HandlerNames.KEEPALIVE, HandlerNames.SESSION, NodeLink.this);
                if (first != null) {
                    channel.pipeline().fireChannelRead(first).fireChannelReadComplete();
                }
                channel.config().setAutoRead(true);
            } catch (ProtocolException e) {
                fail(ctx, e.getMessage());
            }
        }

        private void fail(ChannelHandlerContext ctx, String reason) {
            if (finished) {
                return;
            }
            finished = true;
            if (deadline != null) {
                deadline.cancel(false);
            }
            NodeForwarder.NOT_FORWARDED.warn("node link to node {} for '{}' failed: {}", node, name, reason);
            dialFailed(reason);
            ctx.close();
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            in.release();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            fail(ctx, "node " + node + " closed the connection");
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(ctx, "node " + node + ": " + Printable.of(String.valueOf(cause.getMessage())));
        }
    }
}
