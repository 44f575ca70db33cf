package io.diglett.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.transport.Fingerprint;
import java.io.InputStream;
import java.net.Socket;
import java.nio.file.Path;
import java.security.KeyStoreException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * When the agent reads the system trust store: only when a decision needs it (a first connection, a record that
 * says {@code ca}, a recorded fingerprint that does not match), never for a recorded fingerprint that matches or a
 * pin, the start of every agent that has connected before.
 */
class GatewayTrustManagerTest {

    private static final String GATEWAY = "gateway.test:20000";
    private static X509Certificate[] gatewayChain;
    private static X509Certificate[] otherChain;

    @TempDir
    Path temp;

    private final AtomicInteger loads = new AtomicInteger();
    private final AtomicInteger checks = new AtomicInteger();

    @BeforeAll
    static void certificates() throws Exception {
        try (InputStream in = GatewayTrustManagerTest.class.getResourceAsStream("/two-gateway-certificates.pem")) {
            X509Certificate[] both = CertificateFactory.getInstance("X.509").generateCertificates(in)
                    .toArray(new X509Certificate[0]);
            gatewayChain = new X509Certificate[] {both[0]};
            otherChain = new X509Certificate[] {both[1]};
        }
    }

    /** A system trust store that vouches for nothing, counting how often it is read and asked. */
    private X509ExtendedTrustManager untrusting() {
        loads.incrementAndGet();
        return new X509ExtendedTrustManager() {
            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                    throws CertificateException {
                checks.incrementAndGet();
                throw new CertificateException("not signed by a trusted authority");
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
            public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
            }

            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {
            }

            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType) {
            }

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
            }
        };
    }

    private GatewayTrustManager manager(TrustSettings settings) {
        return new GatewayTrustManager(settings, GATEWAY, this::untrusting);
    }

    @Test
    void aMatchingRecordedFingerprintDoesNotReadTheSystemTrustStore() throws Exception {
        Path file = temp.resolve("known_gateways");
        new KnownGateways(file).add(GATEWAY, Fingerprint.of(gatewayChain[0]).toString());
        GatewayTrustManager trust = manager(TrustSettings.tofu(file));
        trust.checkServerTrusted(gatewayChain, "ECDHE_ECDSA", (SSLEngine) null);
        trust.checkServerTrusted(gatewayChain, "ECDHE_ECDSA", (SSLEngine) null);
        assertEquals(0, loads.get(), "the system trust store was read for a gateway whose fingerprint is recorded");
    }

    @Test
    void aPinDoesNotReadTheSystemTrustStore() throws Exception {
        GatewayTrustManager trust =
                manager(TrustSettings.pinned(Fingerprint.of(gatewayChain[0])));
        trust.checkServerTrusted(gatewayChain, "ECDHE_ECDSA", (SSLEngine) null);
        assertThrows(CertificateException.class,
                () -> trust.checkServerTrusted(otherChain, "ECDHE_ECDSA", (SSLEngine) null));
        assertEquals(0, loads.get());
    }

    @Test
    void aChangedCertificateIsRefusedAndTheStoreReadOnceForTheMessage() throws Exception {
        Path file = temp.resolve("known_gateways");
        new KnownGateways(file).add(GATEWAY, Fingerprint.of(gatewayChain[0]).toString());
        GatewayTrustManager trust = manager(TrustSettings.tofu(file));
        CertificateException refused = assertThrows(CertificateException.class,
                () -> trust.checkServerTrusted(otherChain, "ECDHE_ECDSA", (SSLEngine) null));
        assertTrue(refused.getMessage().startsWith("GATEWAY IDENTITY CHANGED: " + GATEWAY + " presented certificate "
                + Fingerprint.of(otherChain[0]) + " but "), refused.getMessage());
        assertEquals(1, checks.get(), "asked the system trust store whether a certificate authority signed it");
        assertThrows(CertificateException.class,
                () -> trust.checkServerTrusted(otherChain, "ECDHE_ECDSA", (SSLEngine) null));
        assertEquals(1, loads.get(), "the system trust store is read once, then kept");
    }

    @Test
    void aFirstConnectionAsksTheSystemTrustStoreThenRecordsTheFingerprint() throws Exception {
        Path file = temp.resolve("known_gateways");
        GatewayTrustManager trust = manager(TrustSettings.tofu(file));
        trust.checkServerTrusted(gatewayChain, "ECDHE_ECDSA", (SSLEngine) null);
        assertEquals(1, checks.get());
        assertEquals(Fingerprint.of(gatewayChain[0]).toString(), new KnownGateways(file).get(GATEWAY));
    }

    @Test
    void anUnreadableTrustStoreRefusesAFirstConnectionAndRecordsNothing() throws Exception {
        Path file = temp.resolve("known_gateways");
        GatewayTrustManager trust = new GatewayTrustManager(TrustSettings.tofu(file), GATEWAY, () -> {
            loads.incrementAndGet();
            throw new KeyStoreException("problem accessing trust store");
        });
        CertificateException refused = assertThrows(CertificateException.class,
                () -> trust.checkServerTrusted(gatewayChain, "ECDHE_ECDSA", (SSLEngine) null));
        assertTrue(refused.getMessage().startsWith("cannot read the system trust store: "), refused.getMessage());
        assertNull(new KnownGateways(file).get(GATEWAY), "a gateway was recorded without the trust store's answer");
        // A recorded fingerprint that matches does not need the store; one that does not is still refused.
        new KnownGateways(file).add(GATEWAY, Fingerprint.of(gatewayChain[0]).toString());
        trust.checkServerTrusted(gatewayChain, "ECDHE_ECDSA", (SSLEngine) null);
        refused = assertThrows(CertificateException.class,
                () -> trust.checkServerTrusted(otherChain, "ECDHE_ECDSA", (SSLEngine) null));
        assertTrue(refused.getMessage().startsWith("GATEWAY IDENTITY CHANGED: " + GATEWAY + " presented certificate "
                + Fingerprint.of(otherChain[0]) + " but "), refused.getMessage());
    }

    @Test
    void aGatewayRecordedAsCaVerifiedIsRefusedWhenTheStoreNoLongerVouchesForIt() throws Exception {
        Path file = temp.resolve("known_gateways");
        new KnownGateways(file).add(GATEWAY, KnownGateways.CA);
        GatewayTrustManager trust = manager(TrustSettings.tofu(file));
        CertificateException refused = assertThrows(CertificateException.class,
                () -> trust.checkServerTrusted(gatewayChain, "ECDHE_ECDSA", (SSLEngine) null));
        assertTrue(refused.getMessage().contains("was verified by a certificate authority before"),
                refused.getMessage());
        assertEquals(1, checks.get());
    }
}
