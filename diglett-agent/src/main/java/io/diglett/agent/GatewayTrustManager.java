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
 *   <li>a gateway the known-gateways file records: with a fingerprint, the certificate must have it, signed by a
 *       certificate authority or not (else it is refused with both fingerprints named and how to forget the
 *       record); recorded as {@code ca}, it must chain to the system trust store and name the host;</li>
 *   <li>a gateway without a record: a certificate that chains to the system trust store and names the host
 *       passes (and {@code ca} is recorded); any other is trusted on first use, its fingerprint recorded and
 *       said loudly.</li>
 * </ol>
 * Only {@code diglett trust forget} (or editing the file) changes a record.
 *
 * <p>The system trust store is read (about 0.05 s on a small machine, on the agent's start-up path) only when a
 * decision needs it: not for a pinned certificate, nor for a recorded fingerprint that matches.
 */
final class GatewayTrustManager extends X509ExtendedTrustManager {

    private static final Logger log = LoggerFactory.getLogger(GatewayTrustManager.class);

    private final TrustSettings settings;
    private final String gateway;
    private final KnownGateways known;
    private final SystemTrust systemTrust;
    private X509ExtendedTrustManager system; // read on first use, under this object's lock (links may handshake at once)

    /** Where the system trust store comes from: the JDK's default, or a test's stand-in. */
    @FunctionalInterface
    interface SystemTrust {
        X509ExtendedTrustManager load() throws GeneralSecurityException;
    }

    GatewayTrustManager(TrustSettings settings, String gateway) {
        this(settings, gateway, GatewayTrustManager::defaultTrustManager);
    }

    GatewayTrustManager(TrustSettings settings, String gateway, SystemTrust systemTrust) {
        this.settings = settings;
        this.gateway = gateway;
        this.systemTrust = systemTrust;
        this.known = settings.knownGateways() == null ? null : new KnownGateways(settings.knownGateways());
    }

    private static X509ExtendedTrustManager defaultTrustManager() throws GeneralSecurityException {
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init((KeyStore) null);
        for (TrustManager manager : factory.getTrustManagers()) {
            if (manager instanceof X509ExtendedTrustManager extended) {
                return extended;
            }
        }
        throw new GeneralSecurityException("no X509ExtendedTrustManager in the system trust store");
    }

    private synchronized X509ExtendedTrustManager system() throws CertificateException {
        if (system == null) {
            try {
                system = systemTrust.load();
            } catch (GeneralSecurityException e) {
                throw new CertificateException("cannot read the system trust store: " + Reasons.of(e), e);
            }
        }
        return system;
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
        String entry = recorded();
        CaCheck ca = new CaCheck(chain, authType, engine);
        if (entry == null) {
            entry = firstConnection(presented, ca.failure());
        }
        if (entry != null) {
            enforce(entry, presented, ca);
        }
    }

    /** What the known-gateways file records for the gateway, or {@code null} (also without a file). */
    private String recorded() throws CertificateException {
        try {
            return known == null ? null : known.get(gateway);
        } catch (IOException e) {
            throw new CertificateException("cannot use " + known.file() + ": " + Reasons.of(e), e);
        }
    }

    /** Whether the system trust store vouches for the chain and the host, asked at most once, when needed. */
    private final class CaCheck {
        private final X509Certificate[] chain;
        private final String authType;
        private final SSLEngine engine;
        private boolean done;
        private CertificateException failure;

        CaCheck(X509Certificate[] chain, String authType, SSLEngine engine) {
            this.chain = chain;
            this.authType = authType;
            this.engine = engine;
        }

        /**
         * {@code null} if the chain is trusted by the system trust store for the host, else why not. Throws if the
         * store cannot be read: that is no answer, and must not pass for "not signed by a certificate authority"
         * (a first connection would then record a CA-signed gateway's fingerprint instead of {@code ca}).
         */
        CertificateException failure() throws CertificateException {
            if (!done) {
                X509ExtendedTrustManager store = system();
                done = true;
                try {
                    store.checkServerTrusted(chain, authType, engine);
                } catch (CertificateException e) {
                    failure = e;
                }
            }
            return failure;
        }

        /** Whether a certificate authority is known to vouch for the chain: false when the store cannot say. */
        boolean vouchedFor() {
            try {
                return failure() == null;
            } catch (CertificateException unreadable) {
                return false;
            }
        }
    }

    /**
     * A gateway with no record: CA-verified, it is recorded as {@link KnownGateways#CA} (from then on it must
     * chain to the trust store); otherwise trusted on first use and its fingerprint recorded. Returns
     * {@code null} when that settles it, or the record another agent made first, which then holds.
     */
    private String firstConnection(Fingerprint presented, CertificateException notCaVerified)
            throws CertificateException {
        if (known == null) {
            if (notCaVerified != null) {
                throw new CertificateException("gateway " + gateway + " certificate " + presented
                        + " is not trusted: " + Reasons.of(notCaVerified), notCaVerified);
            }
            return null;
        }
        String value = notCaVerified == null ? KnownGateways.CA : presented.toString();
        String recorded;
        try {
            recorded = known.add(gateway, value);
        } catch (IOException e) {
            throw new CertificateException("cannot use " + known.file() + ": " + Reasons.of(e), e);
        }
        if (!recorded.equals(value)) {
            return recorded;
        }
        if (notCaVerified != null) {
            log.warn("FIRST CONNECTION to gateway {}: trusting its certificate {} from now on (recorded in {})."
                    + " Compare it with the fingerprint the gateway logs at start; pass --fingerprint to pin it"
                    + " instead.", gateway, presented, known.file());
        }
        return null;
    }

    /**
     * What the file records holds: {@code ca}, a certificate that chains to the trust store; a fingerprint, that
     * certificate, whatever else vouches for another (a certificate authority too).
     */
    private void enforce(String entry, Fingerprint presented, CaCheck ca) throws CertificateException {
        if (KnownGateways.CA.equals(entry)) {
            CertificateException notCaVerified = ca.failure();
            if (notCaVerified != null) {
                throw new CertificateException("GATEWAY IDENTITY CHANGED: " + gateway + " was verified by a"
                        + " certificate authority before, but now presents " + presented + ", which is not trusted ("
                        + Reasons.of(notCaVerified) + "). Someone may be intercepting the connection. "
                        + howToForget());
            }
            return;
        }
        Fingerprint recorded;
        try {
            recorded = Fingerprint.parse(entry);
        } catch (IllegalArgumentException e) {
            throw new CertificateException(known.file() + ": bad line for " + gateway + ": " + Reasons.of(e)
                    + ". " + howToForget());
        }
        if (!recorded.matches(presented)) {
            throw new CertificateException("GATEWAY IDENTITY CHANGED: " + gateway + " presented certificate "
                    + presented + (ca.vouchedFor() ? " (signed by a certificate authority this machine trusts)"
                    : "") + " but " + known.file() + " records " + recorded + ". Someone may be intercepting the"
                    + " connection. " + howToForget());
        }
    }

    /** The explicit step that changes what is recorded for the gateway. */
    private String howToForget() {
        return "If the gateway's certificate really changed (ask its operator for the new fingerprint), run"
                + " 'diglett trust forget --known-gateways " + known.file() + " " + gateway + "' and connect again"
                + " to trust it on first use, or pass --fingerprint with the new fingerprint.";
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
        try {
            return system().getAcceptedIssuers();
        } catch (CertificateException e) {
            log.warn("{}", e.getMessage());
            return new X509Certificate[0];
        }
    }
}
