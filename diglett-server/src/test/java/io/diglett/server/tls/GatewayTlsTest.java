package io.diglett.server.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.diglett.common.transport.Fingerprint;
import io.diglett.server.config.TlsSettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The generated identity in the state directory: one pair, whole files, owner-only, however many start at once. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayTlsTest {

    @TempDir
    Path temp;

    @Test
    void gatewaysStartingAtOnceOnOneStateDirAgreeOnOneIdentity() throws Exception {
        Path state = temp.resolve("state");
        int gateways = 8;
        CyclicBarrier start = new CyclicBarrier(gateways);
        ExecutorService pool = Executors.newFixedThreadPool(gateways);
        Set<Fingerprint> served = new HashSet<>();
        try {
            List<Future<Fingerprint>> loaded = new ArrayList<>();
            for (int i = 0; i < gateways; i++) {
                loaded.add(pool.submit(() -> {
                    start.await();
                    return GatewayTls.load(TlsSettings.generated(state)).fingerprint();
                }));
            }
            for (Future<Fingerprint> gateway : loaded) {
                served.add(gateway.get()); // a gateway that could not start fails here
            }
        } finally {
            pool.shutdownNow();
        }
        Fingerprint onDisk = Fingerprint.of(GatewayTls.readCertificates(state.resolve(GatewayTls.CERT_FILE)).get(0));
        assertEquals(Set.of(onDisk), served, "every gateway serves the certificate that stays");
        // the key on disk is that certificate's: its public key signs what the certificate's verifies
        var key = GatewayTls.readPrivateKey(state.resolve(GatewayTls.KEY_FILE));
        var signature = java.security.Signature.getInstance("SHA256withECDSA");
        signature.initSign(key);
        signature.update(new byte[] {1, 2, 3});
        byte[] signed = signature.sign();
        signature.initVerify(GatewayTls.readCertificates(state.resolve(GatewayTls.CERT_FILE)).get(0));
        signature.update(new byte[] {1, 2, 3});
        assertEquals(true, signature.verify(signed), "the key matches the certificate");
        assertEquals("rw-------", PosixFilePermissions.toString(
                Files.getPosixFilePermissions(state.resolve(GatewayTls.KEY_FILE))));
        try (var left = Files.list(state)) {
            assertEquals(List.of("gateway.crt", "gateway.key", "gateway.key.lock"),
                    left.map(p -> p.getFileName().toString()).sorted().toList(), "no temporary file is left");
        }
    }
}
