package io.diglett.protocol.mux;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Handshake;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.Signals;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What both ends of a link do alike: dispatch stream frames to the {@link StreamMux}, answer Ping, and turn
 * any protocol violation into one Error frame followed by a close. Subclasses hold the session's phases
 * (login, registration) and see every other frame in {@link #onFrame}.
 *
 * <p>Failure is sticky: after {@link #fail} nothing more is read from the peer.
 */
public abstract class LinkSession extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(LinkSession.class);

    /** How long a failed link may take to deliver its Error frame before it is closed anyway. */
    static final long FAIL_CLOSE_GRACE_MILLIS = 1_000;

    private final int receiveWindow;
    private final FlowLimits limits;
    protected ChannelHandlerContext ctx;
    protected StreamMux mux;
    private boolean failed;
    /** The protocol version the link runs, once the handshakes agreed on one; 0 before. */
    private int version;

    protected LinkSession(int receiveWindow) {
        this(receiveWindow, FlowLimits.unbounded());
    }

    /** A session whose streams are held to {@code limits} as well as to their windows. */
    protected LinkSession(int receiveWindow, FlowLimits limits) {
        this.receiveWindow = receiveWindow;
        this.limits = limits;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.mux = new StreamMux(ctx.channel(), receiveWindow, this::fail, limits);
    }

    /** The peer's handshake arrived. */
    protected abstract void onHandshake(Handshake handshake);

    /** A frame that is not a stream frame nor Ping/Pong. The caller releases it after this returns. */
    protected abstract void onFrame(Frame frame);

    /** Whether the session is far enough for stream frames; before that they break the protocol. */
    protected abstract boolean streamsAllowed();

    /** The link is closed; streams are already reset. */
    protected abstract void onClosed();

    /** The protocol version the link runs (what payload layouts it uses); 0 until {@link #useVersion}. */
    protected final int version() {
        return version;
    }

    /** The handshakes agreed on {@code version}: the link's frames use its layouts from now on. */
    protected final void useVersion(int version) {
        if (version < Protocol.OLDEST_SERVED_VERSION || version > Protocol.VERSION) {
            throw new IllegalArgumentException("protocol version " + version + " is not spoken here");
        }
        this.version = version;
    }

    /** Who the peer is, for log lines. */
    protected String peer() {
        String address = io.diglett.protocol.Requests.address(ctx.channel().remoteAddress());
        return address != null ? address : String.valueOf(ctx.channel().remoteAddress());
    }

    /** Something arrived from the peer (any frame, Pong included): it is alive. Runs before the frame is handled. */
    protected void heard() {
    }

    @Override
    public final void channelRead(ChannelHandlerContext ctx, Object msg) {
        heard();
        if (failed || !ctx.channel().isOpen()) {
            // failed, or closed by this side: what is left of the last read is not for us any more
            ReferenceCountUtil.release(msg);
            return;
        }
        try {
            if (msg instanceof Frame frame) {
                read(frame);
            } else if (msg instanceof Handshake handshake) {
                onHandshake(handshake);
            } else {
                ReferenceCountUtil.release(msg);
            }
        } catch (DecoderException e) {
            failOn(e);
        }
    }

    private void read(Frame frame) {
        if (StreamMux.isStreamFrame(frame.kind()) && !streamsAllowed()) {
            String kind = frame.kind().toString();
            frame.release();
            fail("unexpected " + kind + " frame before registration finished");
            return;
        }
        if (mux.onFrame(frame)) {
            return;
        }
        try {
            if (frame.kind() == FrameKind.PING) {
                mux.writeControl(Signals.Ping.decode(frame).answer().encode(ctx.alloc()));
                mux.flushLinkLater();
            } else if (frame.kind() != FrameKind.PONG) {
                onFrame(frame);
            }
        } finally {
            frame.release();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        mux.linkReadComplete();
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        mux.linkWritabilityChanged();
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        mux.closeAll("link to " + peer() + " closed");
        onClosed();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof DecoderException) {
            failOn(cause);
        } else if (cause instanceof IOException) {
            log.debug("link {}: {}", peer(), cause.toString());
            ctx.close();
        } else {
            log.error("link {}: internal error, closing", peer(), cause);
            fail("internal error");
        }
    }

    /** Whether {@link #fail} was called. */
    protected boolean failed() {
        return failed;
    }

    /**
     * Ends the link because of {@code reason}: logs it, sends it in an Error frame (id 0) and closes once
     * that is written. Further input is ignored.
     */
    protected void fail(String reason) {
        end(Frame.error(ctx.alloc(), Protocol.CONNECTION_ID, reason), reason);
    }

    /**
     * Ends the link for good: like {@link #fail}, but the peer is told with a Refuse frame that trying again
     * will not help (a refused token or name, an incompatible version).
     */
    protected void refuse(String reason) {
        end(Frame.refuse(ctx.alloc(), reason), reason);
    }

    /** Logs why the link ends; a WARN line. The gateway limits the lines of links that never logged in. */
    protected void logEnd(String reason) {
        log.warn("closing link {}: {}", peer(), reason);
    }

    private void failOn(Throwable cause) {
        if (cause instanceof ProtocolException p && p.isRefusal()) {
            refuse(p.getMessage());
        } else {
            fail(io.diglett.protocol.Reasons.of(cause));
        }
    }

    private void end(Frame last, String reason) {
        if (failed) {
            last.release();
            return;
        }
        failed = true;
        logEnd(reason);
        // Nothing more is read, and the streams end now rather than when the Error has been written.
        ctx.channel().config().setAutoRead(false);
        mux.closeAll(reason);
        ctx.writeAndFlush(last).addListener(ChannelFutureListener.CLOSE);
        // The Error may never be written: a peer that does not read, or a TLS handshake that never finished
        // (the TLS handler holds writes until it does). Close regardless after a grace period.
        ctx.executor().schedule(() -> {
            ctx.close();
        }, FAIL_CLOSE_GRACE_MILLIS, TimeUnit.MILLISECONDS);
    }
}
