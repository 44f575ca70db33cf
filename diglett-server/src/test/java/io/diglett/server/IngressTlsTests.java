package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.HostPort;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.IngressSettings;
import io.diglett.server.tls.GatewayTls;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.xml.parsers.DocumentBuilderFactory;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.GeneralName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * The HTTPS ingress's protocols and cipher suites, as Debian's {@code sslscan} finds them: TLS 1.3, and TLS 1.2
 * only with an ECDHE key exchange (forward secrecy) and an AEAD cipher (GCM, ChaCha20-Poly1305); nothing older.
 * With an RSA certificate (where static RSA key exchange and CBC suites would otherwise be offered) and with
 * the EC certificate the gateway generates.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class IngressTlsTests {

    private static final String DOMAIN = "gateway.test";

    @TempDir
    Path temp;

    /** One {@code <cipher>} finding: the protocol version and the suite's OpenSSL name. */
    record Cipher(String version, String name) {
        boolean forwardSecretAead() {
            return version.equals("TLSv1.3") || version.equals("TLSv1.2") && name.startsWith("ECDHE-")
                    && (name.contains("-GCM-") || name.endsWith("-CHACHA20-POLY1305"));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"default", "jdk"})
    void anRsaCertificateGetsOnlyTls13AndEcdheAeadSuites(String engine) throws Exception {
        KeyPair caKeys = OperatorCertificateTests.keys("EC");
        X500Name caName = new X500Name("CN=Test Ingress CA");
        X509Certificate ca = OperatorCertificateTests.certificate("CN=Test Ingress CA", caKeys, caName, caKeys, true);
        KeyPair leafKeys = OperatorCertificateTests.keys("RSA");
        X509Certificate leaf = OperatorCertificateTests.certificate("CN=*." + DOMAIN, leafKeys, caName, caKeys, false,
                new GeneralName(GeneralName.dNSName, "*." + DOMAIN));
        Path cert = temp.resolve("rsa-fullchain.pem");
        Path key = temp.resolve("rsa-privkey.pem");
        OperatorCertificateTests.writePem(cert, leaf, ca);
        OperatorCertificateTests.writePem(key, leafKeys);
        String saved = System.getProperty("diglett.tls");
        if (engine.equals("jdk")) {
            System.setProperty("diglett.tls", "jdk"); // the JDK's engine instead of BoringSSL
        }
        try {
            List<Cipher> ciphers = scan(cert, key);
            assertTrue(ciphers.contains(new Cipher("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")), ciphers.toString());
        } finally {
            if (saved == null) {
                System.clearProperty("diglett.tls");
            } else {
                System.setProperty("diglett.tls", saved);
            }
        }
    }

    @Test
    void theGeneratedEcCertificateGetsOnlyTls13AndEcdheAeadSuites() throws Exception {
        Path cert = temp.resolve("ec.crt");
        Path key = temp.resolve("ec.key");
        GatewayTls.generate(cert, key, "*." + DOMAIN, List.of("*." + DOMAIN, DOMAIN));
        List<Cipher> ciphers = scan(cert, key);
        assertTrue(ciphers.contains(new Cipher("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")), ciphers.toString());
    }

    /**
     * Runs sslscan against an ingress serving {@code cert}, checks the protocols it finds and that every suite
     * it finds is TLS 1.3 or forward-secret AEAD TLS 1.2, and returns the suites.
     */
    private List<Cipher> scan(Path cert, Path key) throws Exception {
        IngressSettings ingress = new IngressSettings(DOMAIN, null, new HostPort("127.0.0.1", 0), cert, key);
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withIngress(ingress))) {
            int https = fixture.gateway.httpsPort().orElseThrow();
            Process sslscan = new ProcessBuilder("sslscan", "--no-colour", "--xml=-", "--sni-name=alpha." + DOMAIN,
                    "127.0.0.1:" + https).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            byte[] xml = sslscan.getInputStream().readAllBytes();
            assertTrue(sslscan.waitFor(60, TimeUnit.SECONDS), "sslscan finished");
            assertEquals(0, sslscan.exitValue(), new String(xml, StandardCharsets.UTF_8));
            Document report = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                    .parse(new ByteArrayInputStream(xml));
            String text = new String(xml, StandardCharsets.UTF_8);

            NodeList protocols = report.getElementsByTagName("protocol");
            assertTrue(protocols.getLength() >= 4, text);
            for (int i = 0; i < protocols.getLength(); i++) {
                Element protocol = (Element) protocols.item(i);
                String version = protocol.getAttribute("type") + protocol.getAttribute("version");
                boolean wanted = version.equals("tls1.2") || version.equals("tls1.3");
                assertEquals(wanted ? "1" : "0", protocol.getAttribute("enabled"), version + " in\n" + text);
            }

            List<Cipher> found = new ArrayList<>();
            NodeList ciphers = report.getElementsByTagName("cipher");
            for (int i = 0; i < ciphers.getLength(); i++) {
                Element cipher = (Element) ciphers.item(i);
                found.add(new Cipher(cipher.getAttribute("sslversion"), cipher.getAttribute("cipher")));
            }
            assertTrue(found.stream().anyMatch(c -> c.version().equals("TLSv1.3")), text);
            List<Cipher> weak = found.stream().filter(c -> !c.forwardSecretAead()).toList();
            assertEquals(List.of(), weak, "suites without forward secrecy or AEAD, in\n" + text);
            return found;
        }
    }
}
