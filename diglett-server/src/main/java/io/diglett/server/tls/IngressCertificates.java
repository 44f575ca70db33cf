package io.diglett.server.tls;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProtocols;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.security.PrivateKey;
import java.time.Clock;
import java.time.Instant;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The certificates the HTTPS ingress serves, chosen per connection by the TLS server name: a certificate of that
 * exact host (ACME, per name), else the domain's wildcard from ACME, else the fallback (the operator's
 * {@code --https-cert} or the generated self-signed one). Each is put in place whole, from any thread; a
 * connection keeps the context it started with, so a renewal drops no connection.
 */
public final class IngressCertificates {

    /**
     * The cipher suites the HTTPS ingress offers: TLS 1.3's, and for TLS 1.2 only ECDHE key exchange (forward
     * secrecy) with an AEAD cipher. Netty's default list would add static RSA key exchange and CBC suites for
     * an RSA certificate. The JDK's engine needs the TLS 1.3 names listed; BoringSSL always enables them.
     */
    public static final List<String> CIPHERS = List.of(
            "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");

    /** A context served until {@code notAfter}, its certificate's expiry. */
    private record Served(SslContext context, Instant notAfter) {
        boolean valid(Instant now) {
            return now.isBefore(notAfter);
        }
    }

    private final SslContext fallback;
    private final Clock clock;
    private volatile Served wildcard;
    private final Map<String, Served> byHost = new ConcurrentHashMap<>();

    public IngressCertificates(SslContext fallback) {
        this(fallback, Clock.systemUTC());
    }

    public IngressCertificates(SslContext fallback, Clock clock) {
        this.fallback = fallback;
        this.clock = clock;
    }

    /** The ingress's TLS context for {@code key} and its certificate chain {@code chain} (leaf first). */
    public static SslContext context(PrivateKey key, List<X509Certificate> chain) throws javax.net.ssl.SSLException {
        return SslContextBuilder.forServer(key, chain)
                .sslProvider(io.diglett.common.transport.Tls.provider())
                .protocols(SslProtocols.TLS_v1_3, SslProtocols.TLS_v1_2)
                .ciphers(CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                        ApplicationProtocolNames.HTTP_1_1))
                .build();
    }

    /**
     * The context for a connection whose ClientHello named {@code host} ({@code null}: none): the host's own
     * certificate, else the wildcard, else the fallback; an expired certificate is passed over.
     */
    public SslContext forHost(String host) {
        Instant now = null;
        if (host != null && !byHost.isEmpty()) {
            Served exact = byHost.get(host.toLowerCase(Locale.ROOT));
            if (exact != null && exact.valid(now = clock.instant())) {
                return exact.context();
            }
        }
        Served shared = wildcard;
        if (shared != null && shared.valid(now != null ? now : clock.instant())) {
            return shared.context();
        }
        return fallback;
    }

    /** Serves {@code context} for {@code host} from the next connection on, until {@code notAfter}. */
    public void put(String host, SslContext context, Instant notAfter) {
        byHost.put(host.toLowerCase(Locale.ROOT), new Served(context, notAfter));
    }

    /**
     * Serves the domain's wildcard certificate {@code context} to every host without a certificate of its own,
     * until {@code notAfter}.
     */
    public void putWildcard(SslContext context, Instant notAfter) {
        wildcard = new Served(context, notAfter);
    }
}
