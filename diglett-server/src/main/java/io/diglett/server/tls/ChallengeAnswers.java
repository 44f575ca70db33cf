package io.diglett.server.tls;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProtocols;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLException;

/**
 * Answers ACME TLS-ALPN-01 validations (RFC 8737) on the HTTPS ingress: a ClientHello that offers
 * {@value #PROTOCOL} gets the validation certificate of the name it asks for, before any name routing, and the
 * connection ends after the handshake.
 */
public interface ChallengeAnswers {

    /** The ALPN protocol of a TLS-ALPN-01 validation. */
    String PROTOCOL = "acme-tls/1";

    /**
     * The context that answers a validation of {@code host} (lower case), completed on {@code executor}: with
     * {@code null} when there is no challenge for it.
     */
    Future<SslContext> answer(EventExecutor executor, String host);

    /** A context that presents {@code certificate} (the validation certificate) and selects {@value #PROTOCOL}. */
    static SslContext context(PrivateKey key, X509Certificate certificate) throws SSLException {
        return SslContextBuilder.forServer(key, certificate)
                .sslProvider(io.diglett.common.transport.Tls.provider())
                .protocols(SslProtocols.TLS_v1_3, SslProtocols.TLS_v1_2)
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        // the only behaviours BoringSSL's engine supports; the hello offered acme-tls/1 to get here
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, PROTOCOL))
                .build();
    }
}
