package io.diglett.agent;

import io.diglett.common.transport.Fingerprint;
import io.diglett.protocol.Reasons;
import java.io.IOException;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides whether the gateway's certificate is the gateway's, in this order:
 * <ol>
 *   <li>{@code --insecure}: anything goes (with a warning);</li>
 *   <li>{@code --fingerprint}: the certificate must have that fingerprint, nothing else counts;</li>
 *   <li>a certificate that chains to the system trust store and names the host passes;</li>
 *   <li>trust on first use: an unknown gateway's fingerprint is recorded in the known-gateways file (and said
 *       loudly); a gateway already recorded must present the same fingerprint, or it is refused with both
 *       fingerprints named.</li>
 * </ol>
 */
final class GatewayTrustManager extends X509ExtendedTrustManager {

    private static final Logger log = LoggerFactory.getLogger(GatewayTrustManager.class);

    private final TrustSettings settings;
    private final String gateway;
    private final X509ExtendedTrustManager system;
    private final KnownGateways known;

    GatewayTrustManager(TrustSettings settings, String gateway) throws GeneralSecurityException {
        this.settings = settings;
        this.gateway = gateway;
        this.system = systemTrustManager();
        this.known = settings.knownGateways() == null ? null : new KnownGateways(settings.knownGateways());
    }

    private static X509ExtendedTrustManager systemTrustManager() throws GeneralSecurityException {
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init((KeyStore) null);
        for (TrustManager manager : factory.getTrustManagers()) {
            if (manager instanceof X509ExtendedTrustManager extended) {
                return extended;
            }
        }
        throw new GeneralSecurityException("no X509ExtendedTrustManager in the system trust store");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        if (chain == null || chain.length == 0) {
            throw new CertificateException("the gateway presented no certificate");
        }
        if (settings.insecure()) {
            log.warn("--insecure: not verifying gateway {} (certificate {})", gateway, Fingerprint.of(chain[0]));
            return;
        }
        Fingerprint presented = Fingerprint.of(chain[0]);
        if (settings.pin() != null) {
            if (!presented.matches(settings.pin())) {
                throw new CertificateException("gateway " + gateway + " presented certificate " + presented
                        + ", not the pinned " + settings.pin());
            }
            return;
        }
        try {
            system.checkServerTrusted(chain, authType, engine);
            remember(KnownGateways.CA); // from now on this gateway must chain to the trust store
            return;
        } catch (CertificateException notPublic) {
            if (known == null) {
                throw new CertificateException("gateway " + gateway + " certificate " + presented
                        + " is not trusted: " + Reasons.of(notPublic), notPublic);
            }
            trustOnFirstUse(presented, notPublic);
        }
    }

    private void remember(String value) throws CertificateException {
        if (known != null) {
            try {
                known.add(gateway, value);
            } catch (IOException e) {
                throw new CertificateException("cannot use " + known.file() + ": " + Reasons.of(e), e);
            }
        }
    }

    private void trustOnFirstUse(Fingerprint presented, CertificateException notPublic) throws CertificateException {
        try {
            String entry = known.get(gateway);
            if (KnownGateways.CA.equals(entry)) {
                throw new CertificateException("GATEWAY IDENTITY CHANGED: " + gateway + " was verified by a"
                        + " certificate authority before, but now presents " + presented + ", which is not trusted ("
                        + Reasons.of(notPublic) + "). Someone may be intercepting the connection.");
            }
            Fingerprint recorded;
            try {
                recorded = entry == null ? null : Fingerprint.parse(entry);
            } catch (IllegalArgumentException e) {
                throw new CertificateException(known.file() + ": bad line for " + gateway + ": " + Reasons.of(e));
            }
            if (recorded == null) {
                known.add(gateway, presented.toString());
                log.warn("FIRST CONNECTION to gateway {}: trusting its certificate {} from now on (recorded in {})."
                        + " Compare it with the fingerprint the gateway logs at start; pass --fingerprint to pin it"
                        + " instead.", gateway, presented, known.file());
                return;
            }
            if (!recorded.matches(presented)) {
                throw new CertificateException("GATEWAY IDENTITY CHANGED: " + gateway + " presented certificate "
                        + presented + " but " + known.file() + " records " + recorded + ". Someone may be"
                        + " intercepting the connection. If the gateway's certificate really changed, remove its"
                        + " line from " + known.file() + " or pass --fingerprint.");
            }
        } catch (IOException e) {
            throw new CertificateException("cannot use " + known.file() + ": " + Reasons.of(e), e);
        }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkServerTrusted(chain, authType, (SSLEngine) null);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        checkServerTrusted(chain, authType, (SSLEngine) null);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        throw new CertificateException("the agent does not accept clients");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        throw new CertificateException("the agent does not accept clients");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        throw new CertificateException("the agent does not accept clients");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return system.getAcceptedIssuers();
    }
}
