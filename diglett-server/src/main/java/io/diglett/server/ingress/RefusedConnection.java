package io.diglett.server.ingress;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The only handler of an HTTP ingress connection refused at accept: it writes its page (a complete response
 * with {@code Connection: close}), half-closes, and reads and drops what the client sends until the client
 * closes too, at most {@link #MAX_DISCARD} bytes or {@link #LINGER_MILLIS}. Closing with the request still unread
 * would make the kernel answer with a reset, which can destroy the page before the client reads it.
 */
final class RefusedConnection extends ChannelInboundHandlerAdapter {

    static final int MAX_DISCARD = 64 * 1024;
    static final long LINGER_MILLIS = 1000;

    private final ByteBuf page;
    private int discarded;
    private ScheduledFuture<?> linger;

    RefusedConnection(ByteBuf page) {
        this.page = page;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        linger = ctx.executor().schedule(() -> {
            ctx.close();
        }, LINGER_MILLIS, TimeUnit.MILLISECONDS);
        ctx.writeAndFlush(page).addListener(f -> {
            if (f.isSuccess() && ctx.channel() instanceof DuplexChannel duplex) {
                duplex.shutdownOutput();
            } else {
                ctx.close();
            }
        });
        ctx.channel().config().setAutoRead(true);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf bytes) {
            discarded += bytes.readableBytes();
        }
        ReferenceCountUtil.release(msg);
        if (discarded > MAX_DISCARD) {
            ctx.close();
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == ChannelInputShutdownEvent.INSTANCE) {
            ctx.close();
        }
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        linger.cancel(false);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
