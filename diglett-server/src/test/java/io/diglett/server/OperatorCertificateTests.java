package io.diglett.server;

import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.TlsSettings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.TrustSettings;
import io.diglett.common.transport.Fingerprint;
import io.diglett.server.TestServers.Backend;
import java.io.OutputStream;
import java.io.StringWriter;
import java.math.BigInteger;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A gateway with the operator's certificate (--tls-cert / --tls-key, PEM, keys in PKCS#1 and SEC1 form as
 * openssl and certbot write them), checked by agents against the system trust store and the host name.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class OperatorCertificateTests {

    @TempDir
    Path temp;

    private final String[] savedProperties = new String[3];
    private static final String[] TRUST_PROPERTIES = {
        "javax.net.ssl.trustStore", "javax.net.ssl.trustStorePassword", "javax.net.ssl.trustStoreType"};

    @AfterEach
    void restoreTrustStore() {
        for (int i = 0; i < TRUST_PROPERTIES.length; i++) {
            if (savedProperties[i] == null) {
                System.clearProperty(TRUST_PROPERTIES[i]);
            } else {
                System.setProperty(TRUST_PROPERTIES[i], savedProperties[i]);
            }
        }
    }

    /** Makes {@code ca} the JVM's system trust store, as an operator's public CA would be. */
    private void trustSystemWide(X509Certificate ca) throws Exception {
        for (int i = 0; i < TRUST_PROPERTIES.length; i++) {
            savedProperties[i] = System.getProperty(TRUST_PROPERTIES[i]);
        }
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setCertificateEntry("test-ca", ca);
        Path file = temp.resolve("truststore.p12");
        try (OutputStream out = Files.newOutputStream(file)) {
            store.store(out, "changeit".toCharArray());
        }
        System.setProperty("javax.net.ssl.trustStore", file.toString());
        System.setProperty("javax.net.ssl.trustStorePassword", "changeit");
        System.setProperty("javax.net.ssl.trustStoreType", "PKCS12");
    }

    static KeyPair keys(String algorithm) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance(algorithm);
        generator.initialize(algorithm.equals("RSA") ? 2048 : 256);
        return generator.generateKeyPair();
    }

    static X509Certificate certificate(String subject, KeyPair subjectKeys, X500Name issuer, KeyPair issuerKeys,
                                       boolean ca, GeneralName... names) throws Exception {
        Instant now = Instant.now();
        var builder = new JcaX509v3CertificateBuilder(issuer, BigInteger.valueOf(now.toEpochMilli()),
                Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(2))),
                new X500Name(subject), subjectKeys.getPublic());
        builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
        if (ca) {
            builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        } else {
            builder.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names));
        }
        String signature = issuerKeys.getPrivate().getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
        return new JcaX509CertificateConverter().getCertificate(
                builder.build(new JcaContentSignerBuilder(signature).build(issuerKeys.getPrivate())));
    }

    static void writePem(Path file, Object... objects) throws Exception {
        StringWriter text = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(text)) {
            for (Object object : objects) {
                writer.writeObject(object);
            }
        }
        Files.writeString(file, text.toString(), StandardCharsets.US_ASCII);
    }

    /** An EC key as {@code openssl ecparam -genkey} writes it: SEC1, with the curve and the public key. */
    private static void writeSec1(Path file, KeyPair pair) throws Exception {
        var publicKey = org.bouncycastle.asn1.x509.SubjectPublicKeyInfo.getInstance(pair.getPublic().getEncoded());
        var sec1 = new org.bouncycastle.asn1.sec.ECPrivateKey(256,
                ((java.security.interfaces.ECPrivateKey) pair.getPrivate()).getS(), publicKey.getPublicKeyData(),
                new org.bouncycastle.asn1.x9.X962Parameters(org.bouncycastle.asn1.sec.SECObjectIdentifiers.secp256r1));
        Files.writeString(file, "-----BEGIN EC PRIVATE KEY-----\n"
                + java.util.Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(sec1.getEncoded())
                + "\n-----END EC PRIVATE KEY-----\n", StandardCharsets.US_ASCII);
    }

    /** A CA, and a gateway certificate it signed for {@code names}, with its key written as {@code keyType}. */
    private TlsSettings operatorCertificate(String keyType, X509Certificate[] caOut, GeneralName... names)
            throws Exception {
        KeyPair caKeys = keys("EC");
        X500Name caName = new X500Name("CN=Test Operator CA");
        X509Certificate ca = certificate("CN=Test Operator CA", caKeys, caName, caKeys, true);
        KeyPair leafKeys = keys(keyType);
        X509Certificate leaf = certificate("CN=gateway", leafKeys, caName, caKeys, false, names);
        Path cert = temp.resolve(keyType + "-fullchain.pem");
        Path key = temp.resolve(keyType + "-privkey.pem");
        writePem(cert, leaf, ca);
        if (keyType.equals("RSA")) {
            writePem(key, leafKeys); // a KeyPair is written in the traditional form: PKCS#1 for RSA
        } else {
            writeSec1(key, leafKeys);
        }
        String header = Files.readString(key).lines().findFirst().orElseThrow();
        assertEquals(keyType.equals("RSA") ? "-----BEGIN RSA PRIVATE KEY-----" : "-----BEGIN EC PRIVATE KEY-----",
                header);
        caOut[0] = ca;
        return new TlsSettings(false, cert, key, null);
    }

    @Test
    void aCertificateFromATrustedCaForTheHostPassesWithoutPinOrPrompt() throws Exception {
        for (String keyType : new String[] {"RSA", "EC"}) {
            X509Certificate[] ca = new X509Certificate[1];
            TlsSettings tls = operatorCertificate(keyType, ca,
                    new GeneralName(GeneralName.iPAddress, "127.0.0.1"), new GeneralName(GeneralName.dNSName, "localhost"));
            trustSystemWide(ca[0]);
            try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
                 TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withTls(tls))) {
                var leaf = java.security.cert.CertificateFactory.getInstance("X.509")
                        .generateCertificate(Files.newInputStream(tls.certFile()));
                assertEquals(Fingerprint.of(leaf), fixture.gateway.fingerprint(), "the leaf is what is served");
                int port = fixture.expose(fixture.agentConfig("public-" + keyType.toLowerCase(), echo.port())
                        .withTrust(new TrustSettings(false, false, null, null)));
                try (Socket client = TestServers.connect(port)) {
                    client.getOutputStream().write('k');
                    assertEquals('k', client.getInputStream().read());
                }
            }
            restoreTrustStore();
        }
    }

    /**
     * A gateway recorded by fingerprint, then an impostor with a certificate for the same host from a CA this
     * machine trusts: the record wins, the agent is refused before it logs in (its token is never sent) and the
     * record is unchanged; the command the refusal names forgets the record, and the next connection is a first
     * connection again.
     */
    @Test
    void aRecordedFingerprintBeatsACertificateAuthorityUntilItIsForgotten() throws Exception {
        X509Certificate[] ca = new X509Certificate[1];
        TlsSettings tls = operatorCertificate("EC", ca,
                new GeneralName(GeneralName.iPAddress, "127.0.0.1"), new GeneralName(GeneralName.dNSName, "localhost"));
        trustSystemWide(ca[0]);
        Path known = temp.resolve("config/diglett/known_gateways");
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture impostor = new TunnelFixture(GatewayConfig.defaults().withTls(tls))) {
            String gateway = "127.0.0.1:" + impostor.address.getPort();
            Fingerprint genuine = new Fingerprint(new byte[32]); // what the real gateway showed on first use
            Files.createDirectories(known.getParent());
            Files.writeString(known, gateway + " " + genuine + "\n");
            String before = Files.readString(known);

            Agent agent = impostor.agent(impostor.agentConfig("victim", echo.port())
                    .withToken("the-agents-token").withTrust(TrustSettings.tofu(known)));
            ExecutionException failure = assertThrows(ExecutionException.class,
                    () -> agent.start().get(10, TimeUnit.SECONDS));
            String message = assertInstanceOf(io.diglett.agent.RejectedException.class, failure.getCause()).getMessage();
            assertTrue(message.contains("gateway identity check failed") && message.contains("GATEWAY IDENTITY CHANGED")
                    && message.contains(genuine.toString()) && message.contains(impostor.gateway.fingerprint().toString())
                    && message.contains("certificate authority"), message);
            assertEquals(0, agent.timesOnline(), "the agent never logged in");
            assertEquals(before, Files.readString(known), "the record is unchanged");

            // the refusal says how to change the record: run exactly that
            java.util.regex.Matcher command = java.util.regex.Pattern.compile("'diglett (trust forget [^']+)'")
                    .matcher(message);
            assertTrue(command.find(), message);
            String[] args = command.group(1).split(" ");
            java.io.StringWriter out = new java.io.StringWriter();
            picocli.CommandLine cli = io.diglett.common.cli.CommandLines.prepare(new io.diglett.agent.AgentCommand(),
                    args, java.util.Map.of("HOME", temp.resolve("home").toString()));
            cli.setOut(new java.io.PrintWriter(out));
            cli.setErr(new java.io.PrintWriter(out));
            assertEquals(0, cli.execute(args), out.toString());
            assertTrue(out.toString().contains("forgot " + gateway), out.toString());
            assertTrue(!Files.readString(known).contains(gateway), Files.readString(known));

            int port = impostor.expose(impostor.agentConfig("after-forget", echo.port())
                    .withTrust(TrustSettings.tofu(known)));
            try (Socket client = TestServers.connect(port)) {
                client.getOutputStream().write('k');
                assertEquals('k', client.getInputStream().read());
            }
            assertTrue(Files.readAllLines(known).contains(gateway + " ca"), Files.readString(known));
        }
    }

    @Test
    void aTrustedCertificateForAnotherHostIsRefused() throws Exception {
        X509Certificate[] ca = new X509Certificate[1];
        TlsSettings tls = operatorCertificate("EC", ca, new GeneralName(GeneralName.dNSName, "gateway.example"));
        trustSystemWide(ca[0]);
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withTls(tls))) {
            Agent agent = fixture.agent(fixture.agentConfig("wrong-host", 9)
                    .withTrust(new TrustSettings(false, false, null, null)));
            ExecutionException failure = assertThrows(ExecutionException.class,
                    () -> agent.start().get(10, TimeUnit.SECONDS));
            assertInstanceOf(io.diglett.agent.RejectedException.class, failure.getCause());
            assertTrue(failure.getCause().getMessage().contains("is not trusted"), failure.getCause().getMessage());
        }
    }
}
