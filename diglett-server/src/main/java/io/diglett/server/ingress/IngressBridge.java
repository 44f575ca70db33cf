package io.diglett.server.ingress;

import io.diglett.server.link.StreamTarget;

import io.diglett.protocol.Printable;
import io.diglett.protocol.mux.Stream;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The part of an ingress connection (routed by Host or TLS server name) that ties it to a tunnel's stream.
 * The connection was accepted on any event loop; once its tunnel is known, the stream is opened on the agent
 * link's loop and its handler added behind this one. Until then what the client sent waits here (one read's
 * worth: nothing more is read). Runs on the connection's event loop; the {@link Stream.LocalEnd} callbacks
 * come from the link's loop and hop over.
 *
 * <p>When the stream ends before the client got any response byte, an HTTP client gets a 502 page saying why
 * (the backend refused, the agent went away) instead of a bare reset.
 */
abstract class IngressBridge extends ChannelDuplexHandler implements Stream.LocalEnd {

    private static final Logger log = LoggerFactory.getLogger(IngressBridge.class);

    /** A pending "the client's input ended" for a stream not attached yet. */
    private static final Object INPUT_ENDED = new Object();

    protected ChannelHandlerContext ctx;
    private StreamTarget tunnel;
    private boolean attached;
    private final ArrayDeque<Object> pending = new ArrayDeque<>(4);
    /** Some response byte went to the client: errors can no longer be reported as a page. */
    protected boolean responseStarted;
    /** An error page is on its way (or was sent): the connection only closes now. */
    protected boolean answered;

    /** Whether the client speaks HTTP through this bridge (and so gets error pages). */
    protected abstract boolean http();

    /** The ingress this connection came through. */
    protected abstract Ingress ingress();

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    /** The tunnel this connection is bound to, or {@code null} while it is not routed. */
    protected StreamTarget tunnel() {
        return tunnel;
    }

    /** Binds this connection to {@code target} and opens a stream there, on the agent link's event loop. */
    protected void connect(StreamTarget target) {
        tunnel = target;
        Channel client = ctx.channel();
        target.openStream(client, this, busy -> client.eventLoop().execute(() -> attached(busy)));
    }

    private void attached(String busy) {
        if (busy != null) {
            if (http()) {
                errorPage(IngressPages.unavailable(tunnel.name(), busy));
            } else {
                ctx.close();
            }
            return;
        }
        attached = true;
        Object msg;
        boolean any = false;
        while ((msg = pending.poll()) != null) {
            if (msg == INPUT_ENDED) {
                ctx.fireUserEventTriggered(io.netty.channel.socket.ChannelInputShutdownEvent.INSTANCE);
            } else {
                ctx.fireChannelRead(msg);
                any = true;
            }
        }
        if (any) {
            ctx.fireChannelReadComplete();
        }
    }

    /** Sends bytes of the client toward the stream (held until it is attached). */
    protected void forward(ByteBuf bytes) {
        if (answered) {
            bytes.release();
        } else if (attached) {
            ctx.fireChannelRead(bytes);
        } else {
            pending.add(bytes);
        }
    }

    /** Tells the stream the client will send nothing more (the stream sends FIN). */
    protected void endInput() {
        if (inputEnded) {
            return; // the client's own half-close and a host switch may both end it
        }
        inputEnded = true;
        if (attached) {
            ctx.fireUserEventTriggered(io.netty.channel.socket.ChannelInputShutdownEvent.INSTANCE);
        } else {
            pending.add(INPUT_ENDED);
        }
    }

    private boolean inputEnded;

    protected boolean attached() {
        return attached;
    }

    /** Answers with {@code page} (a complete HTTP response) and closes the connection once it is written. */
    protected void errorPage(ByteBuf page) {
        if (answered || !ctx.channel().isActive()) {
            page.release();
            return;
        }
        answered = true;
        releasePending();
        ingress().answered(Integer.parseInt(page.toString(9, 3, java.nio.charset.StandardCharsets.US_ASCII)));
        ctx.writeAndFlush(page).addListener(ChannelFutureListener.CLOSE);
    }

    /** The client's input ended (seen on this loop): reads asked for later, from the link's loop, are stale. */
    private boolean inputShutdown;

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == io.netty.channel.socket.ChannelInputShutdownEvent.INSTANCE) {
            inputShutdown = true;
            endInput(); // in order with what is pending, not around it
        } else {
            ctx.fireUserEventTriggered(evt);
        }
    }

    /** Whether a read asked for now may still go to the socket. */
    protected boolean mayRead() {
        return !inputShutdown;
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf buf && buf.isReadable() && !answered) {
            responseStarted = true;
            onResponse(buf);
        }
        ctx.write(msg, promise);
    }

    /** Response bytes on their way to the client (a subclass may look at them). */
    protected void onResponse(ByteBuf bytes) {
    }

    // ---------------------------------------------------------------- Stream.LocalEnd, called on the link's loop

    @Override
    public void outputDone(Channel local) {
        local.eventLoop().execute(() -> {
            if (http() && !responseStarted) {
                errorPage(IngressPages.badGateway(tunnel.name(), "the service closed the connection without"
                        + " answering"));
            } else if (local.pipeline().get(SslHandler.class) != null || !(local instanceof DuplexChannel)) {
                local.close(); // with TLS: close_notify, the end of the response
            } else {
                ((DuplexChannel) local).shutdownOutput();
            }
        });
    }

    @Override
    public void reset(Channel local, String reason) {
        local.eventLoop().execute(() -> {
            if (http() && !responseStarted && !answered) {
                log.debug("name={} client={} stream reset before a response: {}", tunnel.name(),
                        local.remoteAddress(), reason);
                errorPage(IngressPages.badGateway(tunnel.name(), reason));
            } else if (!answered) {
                Stream.abort(local);
            }
        });
    }

    // ---------------------------------------------------------------- end

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releasePending();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releasePending();
    }

    private void releasePending() {
        Object msg;
        while ((msg = pending.poll()) != null) {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("ingress client={} error: {}", ctx.channel().remoteAddress(), Printable.of(cause.toString()));
        if (attached) {
            ctx.fireExceptionCaught(cause); // the stream resets itself and closes the connection
        } else {
            ctx.close();
        }
    }
}
