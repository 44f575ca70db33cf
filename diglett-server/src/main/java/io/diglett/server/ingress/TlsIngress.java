package io.diglett.server.ingress;

import io.diglett.server.link.StreamTarget;

import io.diglett.protocol.Printable;
import io.diglett.protocol.mux.HandlerNames;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.ssl.AbstractSniHandler;
import io.netty.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * First handler on an HTTPS ingress connection: reads the ClientHello's server name (SNI) without consuming
 * it. A name whose tunnel asked for passthrough gets the raw TLS stream ({@link RawIngress}); everything else
 * is terminated here with the ingress certificate and routed per request by {@link HttpIngress}.
 */
final class TlsIngress extends AbstractSniHandler<StreamTarget> {

    private static final Logger log = LoggerFactory.getLogger(TlsIngress.class);

    private final Ingress ingress;

    TlsIngress(Ingress ingress, long handshakeTimeoutMillis) {
        super(handshakeTimeoutMillis);
        this.ingress = ingress;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        super.channelActive(ctx);
        ctx.read(); // auto-read is off on ingress connections
    }

    @Override
    protected Future<StreamTarget> lookup(ChannelHandlerContext ctx, String hostname) {
        StreamTarget tunnel = hostname == null ? null : ingress.route(hostname).tunnel();
        return ctx.executor().newSucceededFuture(tunnel != null && tunnel.tlsPassthrough() ? tunnel : null);
    }

    @Override
    protected void onLookupComplete(ChannelHandlerContext ctx, String hostname, Future<StreamTarget> future) {
        StreamTarget passthrough = future.getNow();
        if (passthrough != null) {
            log.debug("client={} sni={} passthrough to name={}", ctx.channel().remoteAddress(),
                    Printable.of(hostname), passthrough.name());
            ctx.pipeline().addAfter(ctx.name(), HandlerNames.INGRESS, new RawIngress(ingress, passthrough));
            ctx.pipeline().remove(this); // the buffered ClientHello goes on to RawIngress
            return;
        }
        ctx.pipeline().addAfter(ctx.name(), HandlerNames.HTTP_DECODER, ingress.newRequestDecoder());
        ctx.pipeline().addAfter(HandlerNames.HTTP_DECODER, HandlerNames.INGRESS,
                new HttpIngress(ingress, true, hostname));
        ctx.pipeline().replace(this, HandlerNames.TLS, ingress.httpsContext().newHandler(ctx.alloc()));
    }
}
