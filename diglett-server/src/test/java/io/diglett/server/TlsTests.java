package io.diglett.server;

import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.TlsSettings;
import io.diglett.server.tls.GatewayTls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.RejectedException;
import io.diglett.agent.TrustSettings;
import io.diglett.common.transport.Fingerprint;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import io.diglett.server.TestServers.Backend;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The agent link's TLS: the gateway's identity, pinning, trust on first use, and plaintext only on request. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TlsTests {

    @TempDir
    Path temp;

    private Backend echo;
    private final List<AutoCloseable> closeables = new java.util.ArrayList<>();

    @BeforeEach
    void backend() throws IOException {
        echo = new Backend(socket -> socket.getInputStream().transferTo(socket.getOutputStream()));
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable closeable : closeables) {
            closeable.close();
        }
        echo.close();
    }

    private TunnelFixture fixture(GatewayConfig config) throws Exception {
        TunnelFixture fixture = new TunnelFixture(config);
        closeables.add(0, fixture);
        return fixture;
    }

    private static void assertServes(int port) throws IOException {
        try (Socket client = TestServers.connect(port)) {
            client.setSoTimeout(5_000);
            client.getOutputStream().write("tls".getBytes(StandardCharsets.UTF_8));
            assertEquals("tls", new String(TestServers.readExactly(client.getInputStream(), 3), StandardCharsets.UTF_8));
        }
    }

    private static RejectedException rejected(TunnelFixture fixture, AgentConfig config) {
        Agent agent = fixture.agent(config);
        ExecutionException failure = assertThrows(ExecutionException.class, () -> agent.start().get(10, TimeUnit.SECONDS));
        return assertInstanceOf(RejectedException.class, failure.getCause());
    }

    @Test
    void theGeneratedIdentityIsKeptAcrossRestartsWithAPrivateKeyFile() throws Exception {
        Path state = temp.resolve("state");
        GatewayConfig config = GatewayConfig.defaults().withTls(TlsSettings.generated(state))
                .withListen(new io.diglett.common.HostPort("127.0.0.1", 0));
        Fingerprint first;
        try (Gateway gateway = new Gateway(config)) {
            gateway.start();
            first = gateway.fingerprint();
        }
        assertEquals("rw-------", PosixFilePermissions.toString(
                Files.getPosixFilePermissions(state.resolve(GatewayTls.KEY_FILE))));
        try (Gateway gateway = new Gateway(config)) {
            gateway.start();
            assertEquals(first, gateway.fingerprint(), "the same certificate after a restart");
        }
        var cert = java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(
                Files.newInputStream(state.resolve(GatewayTls.CERT_FILE)));
        assertEquals(first, Fingerprint.of(cert), "the logged fingerprint is the certificate's");
    }

    /**
     * The operator's key files: one every user of the machine may read is warned about, by option; one only its
     * owner and group may read (640, as for a key shared through a group like ssl-cert) is not.
     */
    @Test
    void keyFilesOthersMayReadAreWarnedAbout() throws Exception {
        Path tlsCert = temp.resolve("tls.crt");
        Path tlsKey = temp.resolve("tls.key");
        Path httpsCert = temp.resolve("https.crt");
        Path httpsKey = temp.resolve("https.key");
        GatewayTls.generate(tlsCert, tlsKey, "gateway", List.of("localhost"));
        GatewayTls.generate(httpsCert, httpsKey, "*.perm.test", List.of("*.perm.test"));
        String[][] modes = {{"rw-r--r--", "rw-r-----"}, {"rw-------", "rw----r--"}};
        for (String[] mode : modes) {
            Files.setPosixFilePermissions(tlsKey, PosixFilePermissions.fromString(mode[0]));
            Files.setPosixFilePermissions(httpsKey, PosixFilePermissions.fromString(mode[1]));
            try (ChildProcess gateway = ChildProcess.start(io.diglett.server.cli.ServerCommand.class,
                    "-l", "127.0.0.1:0", "--bind", "127.0.0.1", "--tls-cert", tlsCert.toString(),
                    "--tls-key", tlsKey.toString(), "--domain", "perm.test", "--https", "127.0.0.1:0",
                    "--https-cert", httpsCert.toString(), "--https-key", httpsKey.toString())) {
                gateway.await("serving https://NAME\\.perm\\.test", 30_000);
                gateway.await("listening for agents", 30_000);
                for (String[] key : new String[][] {{"--tls-key", tlsKey.toString(), mode[0]},
                        {"--https-key", httpsKey.toString(), mode[1]}}) {
                    String warning = key[0] + " " + key[1] + " may be read by every user of this machine: chmod 600";
                    boolean warned = gateway.lines().stream().anyMatch(line -> line.contains(warning));
                    assertEquals(key[2].endsWith("r--"), warned, key[0] + " mode " + key[2] + ":\n"
                            + String.join("\n", gateway.lines()));
                }
            }
        }
    }

    @Test
    void aPinnedFingerprintConnectsAndAWrongOneIsRefusedNamingBoth() throws Exception {
        TunnelFixture fixture = fixture(GatewayConfig.defaults());
        assertServes(fixture.expose("pinned", echo.port()));

        Fingerprint wrong = new Fingerprint(new byte[32]);
        RejectedException refused = rejected(fixture,
                fixture.agentConfig("other", echo.port()).withTrust(TrustSettings.pinned(wrong)));
        assertTrue(refused.getMessage().contains("gateway identity check failed"), refused.getMessage());
        assertTrue(refused.getMessage().contains(fixture.gateway.fingerprint().toString()), refused.getMessage());
        assertTrue(refused.getMessage().contains(wrong.toString()), refused.getMessage());
    }

    @Test
    void trustOnFirstUseRecordsTheGatewayAndRefusesAChangedOne() throws Exception {
        TunnelFixture fixture = fixture(GatewayConfig.defaults());
        Path known = temp.resolve("config/diglett/known_gateways");
        TrustSettings tofu = TrustSettings.tofu(known);
        assertServes(fixture.expose(fixture.agentConfig("first", echo.port()).withTrust(tofu)));

        String gateway = "127.0.0.1:" + fixture.address.getPort();
        List<String> lines = Files.readAllLines(known);
        assertTrue(lines.contains(gateway + " " + fixture.gateway.fingerprint()), String.join("\n", lines));

        assertServes(fixture.expose(fixture.agentConfig("second", echo.port()).withTrust(tofu)));
        assertEquals(lines, Files.readAllLines(known), "a known gateway is not recorded twice");

        Fingerprint other = new Fingerprint(new byte[32]);
        Files.writeString(known, gateway + " " + other + "\n");
        RejectedException refused = rejected(fixture, fixture.agentConfig("third", echo.port()).withTrust(tofu));
        assertTrue(refused.getMessage().contains("GATEWAY IDENTITY CHANGED"), refused.getMessage());
        assertTrue(refused.getMessage().contains(other.toString())
                && refused.getMessage().contains(fixture.gateway.fingerprint().toString()), refused.getMessage());
        assertTrue(refused.getMessage().contains("'diglett trust forget --known-gateways " + known + " " + gateway + "'"),
                "the refusal says how to change the record: " + refused.getMessage());
    }

    @Test
    void withoutPinOrKnownGatewaysASelfSignedGatewayIsRefused() throws Exception {
        TunnelFixture fixture = fixture(GatewayConfig.defaults());
        RejectedException refused = rejected(fixture, fixture.agentConfig("strict", echo.port())
                .withTrust(new TrustSettings(false, false, null, null)));
        assertTrue(refused.getMessage().contains("is not trusted"), refused.getMessage());
    }

    @Test
    void insecureSkipsVerification() throws Exception {
        TunnelFixture fixture = fixture(GatewayConfig.defaults());
        assertServes(fixture.expose(fixture.agentConfig("insecure", echo.port())
                .withTrust(new TrustSettings(false, true, null, null))));
    }

    @Test
    void plaintextOnOneSideOnlyIsRefusedWithAHint() throws Exception {
        TunnelFixture tlsGateway = fixture(GatewayConfig.defaults());
        RejectedException plainAgent = rejected(tlsGateway,
                tlsGateway.agentConfig("plain", echo.port()).withTrust(TrustSettings.plain()));
        assertEquals("this gateway requires TLS: start the agent without --plaintext", plainAgent.getMessage());
        // an agent of the oldest version served gets a handshake it accepts, so it reads the hint too
        try (RawAgent older = new RawAgent(tlsGateway.address.getPort())) {
            older.handshake(Protocol.OLDEST_SERVED_VERSION);
            assertEquals(Protocol.OLDEST_SERVED_VERSION, older.readHandshake());
            RawAgent.RawFrame refusal = older.read();
            assertEquals(FrameKind.REFUSE.code(), refusal.kind());
            assertEquals("this gateway requires TLS: start the agent without --plaintext", refusal.text());
        }

        // the other way round it may be something in between (a captive portal): the agent keeps trying
        TunnelFixture plainGateway = fixture(GatewayConfig.defaults().withTls(TlsSettings.plain()));
        Agent tlsAgent = plainGateway.agent(plainGateway.agentConfig("tls", echo.port())
                .withTrust(TrustSettings.pinned(new Fingerprint(new byte[32]))));
        tlsAgent.start();
        // the first attempt failed and the agent dialed again (a refusal would have stopped it)
        TunnelTests.waitFor(() -> tlsAgent.status().reconnects() >= 1 || tlsAgent.closed().isDone(),
                "the agent dials a second time");
        assertTrue(!tlsAgent.closed().isDone(), "no TLS from the gateway is retried, not final: "
                + tlsAgent.closed().getNow(null));
        assertEquals(0, tlsAgent.timesOnline());
        String error = tlsAgent.status().lastError();
        assertTrue(error != null && error.startsWith("the gateway did not answer with TLS"),
                "why the first attempt failed: " + error);
    }

    @Test
    void theLinkIsEncryptedOnTheWire() throws Exception {
        TunnelFixture fixture = fixture(GatewayConfig.defaults());
        try (TestServers.Relay relay = new TestServers.Relay(fixture.address.getPort())) {
            AgentConfig config = fixture.agentConfig("wire-secret-name", echo.port()).withToken("wire-secret-token");
            AgentConfig viaRelay = config.withGateway(new io.diglett.common.HostPort("127.0.0.1", relay.port()));
            assertServes(fixture.expose(viaRelay));
            String wire = new String(relay.recorded(), StandardCharsets.ISO_8859_1);
            assertEquals(0x16, relay.recorded()[0], "the agent opens with a TLS handshake record");
            assertTrue(!wire.contains("digl") && !wire.contains("wire-secret-token") && !wire.contains("wire-secret-name"),
                    "nothing of the protocol is readable on the wire");
        }
    }
}
