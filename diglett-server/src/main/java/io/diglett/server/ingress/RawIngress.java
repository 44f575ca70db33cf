package io.diglett.server.ingress;

import io.diglett.server.link.StreamIdleTimeout;
import io.diglett.server.link.StreamTarget;

import io.diglett.protocol.mux.HandlerNames;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.util.ReferenceCountUtil;

/**
 * TLS passthrough on the HTTPS ingress: the client's bytes, ClientHello included, go to the tunnel untouched
 * and its backend terminates TLS (so HTTP/2 and any protocol over TLS work end to end). Put in place of
 * {@link TlsIngress} once the server name picked a passthrough tunnel.
 */
final class RawIngress extends IngressBridge {

    private final Ingress ingress;
    private final StreamTarget target;

    RawIngress(Ingress ingress, StreamTarget target) {
        this.ingress = ingress;
        this.target = target;
    }

    @Override
    protected Ingress ingress() {
        return ingress;
    }

    @Override
    protected boolean http() {
        return false;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        super.handlerAdded(ctx);
        java.time.Duration idle = ingress.limits().tcpIdleTimeout();
        if (!idle.isZero()) {
            ctx.pipeline().addFirst(HandlerNames.IDLE, new StreamIdleTimeout(idle, ingress.events()));
        }
        connect(target);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf bytes) {
            forward(bytes);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void read(ChannelHandlerContext ctx) {
        if (attached() && mayRead()) {
            ctx.read(); // the stream asks, under its flow control
        }
    }
}
