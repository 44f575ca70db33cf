package io.diglett.server.ingress;

import io.diglett.server.link.ClientAddress;
import io.diglett.server.link.StreamTarget;
import io.diglett.server.link.VisitorPolicy;
import io.diglett.server.tls.ChallengeAnswers;
import io.diglett.server.tls.ClientHelloAlpn;

import io.diglett.protocol.Printable;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Stream;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.ssl.AbstractSniHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.Future;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * First handler on an HTTPS ingress connection: reads the ClientHello's server name (SNI) and offered protocols
 * without consuming it. An ACME validation ({@code acme-tls/1}, RFC 8737) gets the name's validation
 * certificate and nothing else; a name whose tunnel asked for passthrough gets the raw TLS stream
 * ({@link RawIngress}); everything else is terminated here with the name's certificate
 * ({@link io.diglett.server.tls.IngressCertificates}) and routed per request by {@link HttpIngress}.
 */
final class TlsIngress extends AbstractSniHandler<Object> {

    private static final Logger log = LoggerFactory.getLogger(TlsIngress.class);

    private final Ingress ingress;
    /** Whether the ClientHello offered {@code acme-tls/1}: an ACME server validating a name. */
    private boolean validation;

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
    protected Future<Object> lookup(ChannelHandlerContext ctx, ByteBuf clientHello) throws Exception {
        if (ingress.challenges() != null && clientHello != null) { // null: a hello Netty could not read
            List<String> protocols = ClientHelloAlpn.protocols(clientHello);
            validation = protocols.contains(ChallengeAnswers.PROTOCOL);
        }
        return super.lookup(ctx, clientHello);
    }

    @Override
    @SuppressWarnings("unchecked")
    protected Future<Object> lookup(ChannelHandlerContext ctx, String hostname) {
        StreamTarget tunnel = hostname == null ? null : ingress.route(hostname).tunnel();
        if (tunnel != null && tunnel.tlsPassthrough()) {
            return ctx.executor().newSucceededFuture(tunnel); // its backend answers its own validations too
        }
        if (validation) {
            ChallengeAnswers answers = ingress.challenges();
            if (hostname == null || answers == null) {
                return ctx.executor().newSucceededFuture(null);
            }
            return (Future<Object>) (Future<?>) answers.answer(ctx.executor(), hostname.toLowerCase(Locale.ROOT));
        }
        return ctx.executor().newSucceededFuture(null);
    }

    @Override
    protected void onLookupComplete(ChannelHandlerContext ctx, String hostname, Future<Object> future) {
        if (future.getNow() instanceof StreamTarget passthrough) {
            if (passthrough.visitors().admit(ClientAddress.remote(ctx.channel()))
                    != VisitorPolicy.Decision.ALLOWED) {
                Stream.abort(ctx.channel()); // the name's visitor policy refuses this client: closed at once
                return;
            }
            log.debug("client={} sni={} passthrough to name={}", ctx.channel().remoteAddress(),
                    Printable.of(hostname), passthrough.name());
            ctx.pipeline().addAfter(ctx.name(), HandlerNames.INGRESS, new RawIngress(ingress, passthrough));
            ctx.pipeline().remove(this); // the buffered ClientHello goes on to RawIngress
            return;
        }
        if (validation) {
            answerValidation(ctx, hostname, future);
            return;
        }
        ctx.pipeline().addAfter(ctx.name(), HandlerNames.HTTP_DECODER, ingress.newRequestDecoder());
        ctx.pipeline().addAfter(HandlerNames.HTTP_DECODER, HandlerNames.INGRESS,
                new HttpIngress(ingress, true, hostname));
        ctx.pipeline().replace(this, HandlerNames.TLS,
                ingress.certificates().forHost(hostname).newHandler(ctx.alloc()));
    }

    /** An ACME validation: the handshake with the validation certificate, then the end of the connection. */
    private void answerValidation(ChannelHandlerContext ctx, String hostname, Future<Object> future) {
        if (!(future.getNow() instanceof SslContext answer)) {
            log.debug("client={} ACME validation for sni={}: no challenge pending for it, closing",
                    ctx.channel().remoteAddress(), Printable.of(hostname));
            ctx.close();
            return;
        }
        SslHandler tls = answer.newHandler(ctx.alloc());
        tls.handshakeFuture().addListener(done -> {
            log.debug("client={} ACME validation for {}: {}", ctx.channel().remoteAddress(), Printable.of(hostname),
                    done.isSuccess() ? "answered" : "handshake failed: " + done.cause());
            ctx.channel().close();
        });
        ctx.pipeline().replace(this, HandlerNames.TLS, tls);
        ctx.channel().read(); // auto-read is off: the handshake needs the validator's next flight
    }
}
