package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.AgentCommand;
import io.diglett.common.HostPort;
import io.diglett.server.acme.CertificateStatus;
import io.diglett.server.auth.Authenticator;
import io.diglett.server.config.AcmeSettings;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.IngressSettings;
import io.diglett.server.registrar.Registrar;
import com.sun.net.httpserver.HttpServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --acme} against Debian's pebble and pebble-challtestsrv on loopback ({@link Pebble}): pebble's validator
 * resolves every name to 127.0.0.1 and connects to the gateway's HTTPS listener for TLS-ALPN-01; DNS-01 records go
 * to challtestsrv through a hook script. What a user sees is checked with curl trusting only pebble's root.
 */
class AcmeTests {

    static final String DOMAIN = "gw.test";

    @TempDir
    static Path pebbleDir;
    static Pebble pebble;
    /** The gateways' HTTPS port: pebble's validator connects there. One gateway at a time uses it. */
    static int httpsPort;
    static Path root;
    static HttpServer backend;

    @BeforeAll
    static void startPebble() throws Exception {
        httpsPort = freePort();
        pebble = Pebble.prepare(pebbleDir);
        pebble.start(httpsPort, 0, 0);
        root = pebble.issuingRoot();
        backend = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        backend.createContext("/", exchange -> {
            byte[] body = ("hello from " + exchange.getRequestHeaders().getFirst("Host")).getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        backend.start();
    }

    @AfterAll
    static void stopPebble() {
        if (backend != null) {
            backend.stop(0);
        }
        if (pebble != null) {
            pebble.close();
        }
    }

    static int freePort() throws Exception {
        try (ServerSocket probe = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            return probe.getLocalPort();
        }
    }

    static AcmeSettings settings(Pebble server, Path state, String hook, String linkName, int weekly, int perToken) {
        return new AcmeSettings(URI.create(server.directory()), "ops@gw.test", server.listenerCertificate(), hook,
                linkName, weekly, perToken, state, Duration.ofSeconds(30));
    }

    /** A gateway on {@code port} for *.gw.test with {@code acme}, its state in {@code state}. */
    static TunnelFixture gateway(int port, Path state, java.util.function.Function<Path, AcmeSettings> acme)
            throws Exception {
        GatewayConfig config = GatewayConfig.defaults()
                .withIngress(new IngressSettings(DOMAIN, null, new HostPort("127.0.0.1", port), null, null));
        return new TunnelFixture(config, Authenticator.open(), Registrar.log(), state,
                gateway -> gateway.useAcme(acme.apply(state)));
    }

    static void await(BooleanSupplier condition, long timeoutMillis, java.util.function.Supplier<String> what)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what.get() + "\n" + pebble.log());
            }
            Thread.sleep(50);
        }
    }

    static CertificateStatus.State state(TunnelFixture fixture, String name) {
        CertificateStatus status = fixture.gateway.acme().status(name);
        return status == null ? null : status.state();
    }

    /** curl https://HOST:PORT/ trusting only {@code ca}; returns its output (exit code and body or error). */
    static String curl(int port, String host, Path ca) throws Exception {
        Process curl = new ProcessBuilder("curl", "-sS", "--max-time", "10", "--cacert", ca.toString(),
                "--resolve", host + ":" + port + ":127.0.0.1", "https://" + host + ":" + port + "/")
                .redirectErrorStream(true).start();
        String out;
        try (InputStream in = curl.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        return curl.waitFor() + " " + out;
    }

    static String adminGet(InetSocketAddress admin, String path) throws Exception {
        var response = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + admin.getPort() + path)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), path);
        return response.body();
    }

    /** The certificate the HTTPS listener presents for {@code host} (any trusted). */
    static X509Certificate presented(int port, String host) throws Exception {
        try (SSLSocket socket = HttpTestClient.connectTls(port, host)) {
            return (X509Certificate) socket.getSession().getPeerCertificates()[0];
        }
    }

    @Test
    void aNameGetsItsOwnCertificateByTlsAlpn01AndKeepsItAcrossARestart(@TempDir Path state) throws Exception {
        X509Certificate issued;
        try (TunnelFixture fixture = gateway(httpsPort, state, s -> settings(pebble, s, null, null, 40, 10))) {
            fixture.expose("web", backend.getAddress().getPort());
            await(() -> state(fixture, "web") == CertificateStatus.State.VALID, 60_000,
                    () -> "web's certificate: " + fixture.gateway.acme().status("web"));
            assertEquals("0 hello from web.gw.test:" + httpsPort, curl(httpsPort, "web.gw.test", root),
                    "curl trusting only pebble's root gets the page: the chain is valid for the name");
            issued = presented(httpsPort, "web.gw.test");
            assertTrue(issued.getIssuerX500Principal().getName().contains("Pebble"), issued.toString());
            assertEquals(1L, fixture.gateway.acme().orders().get("issued"));
            Path dir = state.resolve("acme");
            for (String file : List.of("account.key", "web.gw.test.key", "web.gw.test.crt")) {
                assertEquals(Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE),
                        Files.getPosixFilePermissions(dir.resolve(file)), file);
            }
        }
        try (TunnelFixture again = gateway(httpsPort, state, s -> settings(pebble, s, null, null, 40, 10))) {
            again.expose("web", backend.getAddress().getPort());
            await(() -> state(again, "web") == CertificateStatus.State.VALID, 10_000,
                    () -> "web's stored certificate: " + again.gateway.acme().status("web"));
            assertEquals(issued, presented(httpsPort, "web.gw.test"), "the stored certificate is served again");
            assertEquals(0L, again.gateway.acme().orders().get("issued"), "no new order after a restart");
        }
    }

    /** A passthrough name's backend terminates TLS itself: the gateway orders nothing for it. */
    @Test
    void aPassthroughNameGetsNoCertificateFromTheGateway(@TempDir Path state) throws Exception {
        try (TunnelFixture fixture = gateway(httpsPort, state, s -> settings(pebble, s, null, null, 40, 10))) {
            int port = backend.getAddress().getPort();
            fixture.agent(fixture.agentConfig("pass", port).withTunnels(List.of(
                    new io.diglett.agent.TunnelSpec("pass", new HostPort("127.0.0.1", port)).withTlsPassthrough(true),
                    new io.diglett.agent.TunnelSpec("term", new HostPort("127.0.0.1", port))))).start()
                    .get(10, TimeUnit.SECONDS);
            await(() -> state(fixture, "term") == CertificateStatus.State.VALID, 60_000,
                    () -> "term's certificate: " + fixture.gateway.acme().status("term"));
            assertEquals(null, fixture.gateway.acme().status("pass"), "no order, no status for the passthrough name");
            assertEquals(1L, fixture.gateway.acme().orders().get("issued"));
        }
    }

    @Test
    void aDnsHookGetsOneWildcardCertificateForEveryName(@TempDir Path state) throws Exception {
        Path hook = pebble.dnsHookScript(state.resolve("hook"));
        try (TunnelFixture fixture = gateway(httpsPort, state, s -> settings(pebble, s, hook.toString(), null, 40,
                10))) {
            fixture.expose("one", backend.getAddress().getPort());
            fixture.expose("two", backend.getAddress().getPort());
            await(() -> state(fixture, "one") == CertificateStatus.State.VALID, 60_000,
                    () -> "the wildcard certificate: " + fixture.gateway.acme().statuses());
            assertEquals("0 hello from one.gw.test:" + httpsPort, curl(httpsPort, "one.gw.test", root));
            assertEquals("0 hello from two.gw.test:" + httpsPort, curl(httpsPort, "two.gw.test", root));
            X509Certificate wildcard = presented(httpsPort, "two.gw.test");
            assertTrue(wildcard.getSubjectAlternativeNames().stream().anyMatch(san -> san.get(1).equals("*.gw.test")),
                    wildcard.toString());
            assertEquals(wildcard, presented(httpsPort, "one.gw.test"));
            String calls = Files.readString(pebble.dnsHookLog());
            assertTrue(calls.contains("present _acme-challenge.gw.test"), calls);
            assertTrue(calls.contains("cleanup _acme-challenge.gw.test"), calls);
            assertEquals(1L, fixture.gateway.acme().orders().get("issued"));
        }
    }

    @Test
    void aFailedOrderKeepsTheFallbackAndSaysWhy(@TempDir Path state) throws Exception {
        pebble.addA("lost.gw.test", "127.0.0.9"); // the validator finds nothing listening there
        try (TunnelFixture fixture = gateway(httpsPort, state, s -> settings(pebble, s, null, null, 40, 10))) {
            fixture.expose("lost", backend.getAddress().getPort());
            await(() -> state(fixture, "lost") == CertificateStatus.State.FAILED, 60_000,
                    () -> "lost's certificate: " + fixture.gateway.acme().status("lost"));
            CertificateStatus status = fixture.gateway.acme().status("lost");
            assertTrue(status.detail().contains("urn:ietf:params:acme:error:"), "the problem document: " + status);
            assertNotNull(status.retryAt());
            assertEquals(1L, fixture.gateway.acme().orders().get("failed"));
            X509Certificate served = presented(httpsPort, "lost.gw.test");
            assertEquals("CN=*.gw.test", served.getSubjectX500Principal().getName(), "the fallback: " + served);
            String refused = curl(httpsPort, "lost.gw.test", root);
            assertTrue(!refused.startsWith("0 "), "the fallback is not trusted: " + refused);
            InetSocketAddress admin = fixture.gateway.startAdmin(new HostPort("127.0.0.1", 0), null);
            String metrics = adminGet(admin, "/metrics");
            assertTrue(metrics.contains("diglett_acme_orders_total{result=\"failed\"} 1.0"), metrics);
            assertTrue(metrics.contains("diglett_acme_certificates{state=\"failed\"} 1.0"), metrics);
            String tunnels = adminGet(admin, "/api/tunnels");
            assertTrue(tunnels.contains("\"certificate\":{\"subject\":\"lost.gw.test\",\"state\":\"failed\""),
                    tunnels);
        }
    }

    @Test
    void theWeeklyBudgetHoldsBackNewCertificates(@TempDir Path state) throws Exception {
        try (TunnelFixture fixture = gateway(httpsPort, state, s -> settings(pebble, s, null, null, 40, 1))) {
            fixture.expose("first", backend.getAddress().getPort());
            await(() -> state(fixture, "first") == CertificateStatus.State.VALID, 60_000,
                    () -> "first's certificate: " + fixture.gateway.acme().status("first"));
            fixture.expose("second", backend.getAddress().getPort());
            await(() -> state(fixture, "second") == CertificateStatus.State.LIMITED, 10_000,
                    () -> "second's certificate: " + fixture.gateway.acme().status("second"));
            CertificateStatus status = fixture.gateway.acme().status("second");
            assertTrue(status.retryAt().isAfter(java.time.Instant.now().plus(Duration.ofDays(6))), status.toString());
            assertEquals(1L, fixture.gateway.acme().orders().get("limited"));
            assertEquals(1L, fixture.gateway.acme().orders().get("issued"));
            assertEquals("CN=*.gw.test", presented(httpsPort, "second.gw.test").getSubjectX500Principal().getName());
        }
    }
    @Test
    void aRenewedCertificateIsServedWithoutDroppingAnOpenConnection(@TempDir Path dir) throws Exception {
        int port = freePort();
        try (Pebble shortLived = Pebble.prepare(dir.resolve("pebble"))) {
            shortLived.start(port, 0, 18); // renewed at two thirds: 12 s
            try (TunnelFixture fixture = gateway(port, dir.resolve("state"),
                    s -> settings(shortLived, s, null, null, 40, 10))) {
                fixture.expose("renew", backend.getAddress().getPort());
                await(() -> state(fixture, "renew") == CertificateStatus.State.VALID, 60_000,
                        () -> "renew's certificate: " + fixture.gateway.acme().status("renew"));
                X509Certificate first = presented(port, "renew.gw.test");
                try (SSLSocket open = HttpTestClient.connectTls(port, "renew.gw.test")) {
                    assertEquals(200, HttpTestClient.exchange(open, HttpTestClient.get("renew.gw.test", "/")).status());
                    await(() -> fixture.gateway.acme().orders().get("renewed") >= 1, 40_000,
                            () -> "a renewal: " + fixture.gateway.acme().status("renew"));
                    X509Certificate second = presented(port, "renew.gw.test");
                    assertNotEquals(first.getSerialNumber(), second.getSerialNumber(), "a new certificate is served");
                    assertTrue(second.getNotAfter().after(first.getNotAfter()), second.toString());
                    assertEquals(first, open.getSession().getPeerCertificates()[0], "the open connection's own");
                    assertEquals(200, HttpTestClient.exchange(open, HttpTestClient.get("renew.gw.test", "/")).status(),
                            "the connection opened before the renewal still serves");
                }
                String fresh = curl(port, "renew.gw.test", shortLived.issuingRoot());
                assertEquals("0 hello from renew.gw.test:" + port, fresh);
            }
        }
    }

    @Test
    void theAgentLinkGetsACertificateForTheGatewaysNameAndAgentsVerifyItThroughTheCa(@TempDir Path dir)
            throws Exception {
        try (TunnelFixture fixture = gateway(httpsPort, dir.resolve("state"),
                s -> settings(pebble, s, null, DOMAIN, 40, 10))) {
            await(() -> fixture.gateway.acme().statuses().stream().anyMatch(
                    c -> c.subject().equals(DOMAIN) && c.state() == CertificateStatus.State.VALID), 60_000,
                    () -> "the link's certificate: " + fixture.gateway.acme().statuses());
            // an agent that trusts pebble's root as a system CA, and resolves gw.test to this machine
            Path trustStore = dir.resolve("trust.p12");
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            try (InputStream in = Files.newInputStream(root)) {
                store.setCertificateEntry("pebble", CertificateFactory.getInstance("X.509").generateCertificate(in));
            }
            try (OutputStream out = Files.newOutputStream(trustStore)) {
                store.store(out, "changeit".toCharArray());
            }
            Path hosts = Files.writeString(dir.resolve("hosts"), "127.0.0.1 " + DOMAIN + "\n");
            Path known = dir.resolve("known_gateways");
            try (ChildProcess agent = ChildProcess.start(List.of("-Djavax.net.ssl.trustStore=" + trustStore,
                            "-Djavax.net.ssl.trustStorePassword=changeit", "-Djavax.net.ssl.trustStoreType=PKCS12",
                            "-Djdk.net.hosts.file=" + hosts), AgentCommand.class, "--no-console",
                    "-g", DOMAIN + ":" + fixture.address.getPort(), "--known-gateways", known.toString(),
                    "-n", "linked", "127.0.0.1:" + backend.getAddress().getPort())) {
                agent.await("online: 'linked' is reachable", 30_000);
                String output = String.join("\n", agent.lines());
                assertTrue(!output.contains("FIRST CONNECTION"), "no trust on first use:\n" + output);
                String recorded = Files.readString(known);
                assertTrue(recorded.contains(DOMAIN) && recorded.contains(" ca"), "recorded as CA-verified: "
                        + recorded);
            }
        }
    }

    @Test
    void inAClusterAnyNodeAnswersTheValidationAndEveryNodeServesTheCertificate(@TempDir Path dir) throws Exception {
        byte[] secret = "a cluster secret of the acme tests".getBytes(StandardCharsets.US_ASCII);
        try (EtcdServer etcd = EtcdServer.start("127.0.0.1")) {
            List<Gateway> nodes = new ArrayList<>();
            List<InetSocketAddress> links = new ArrayList<>();
            try {
                for (String host : List.of("127.0.0.2", "127.0.0.3")) {
                    Path state = Files.createDirectories(dir.resolve(host));
                    GatewayConfig config = GatewayConfig.defaults()
                            .withTls(new io.diglett.server.config.TlsSettings(true, null, null, state))
                            .withListen(new HostPort(host, 0)).withPublicBind(host)
                            .withIngress(new IngressSettings(DOMAIN, null, new HostPort(host, httpsPort), null, null));
                    Gateway node = new Gateway(config, Authenticator.open(), Registrar.log(),
                            new io.diglett.server.cluster.EtcdNameRegistry(new io.diglett.server.cluster.EtcdStore(
                                    io.diglett.server.config.ClusterSettings.of(List.of(etcd.url()), "n" + host)
                                            .withForwarding(new HostPort(host, 0), secret))));
                    nodes.add(node);
                    node.useAcme(settings(pebble, state, null, null, 40, 10));
                    links.add(node.start());
                }
                Gateway holder = nodes.get(0);
                Gateway other = nodes.get(1);
                pebble.addA("shared.gw.test", "127.0.0.3"); // the validator reaches the node without the agent
                InetSocketAddress link = links.get(0);
                try (io.diglett.agent.Agent agent = new io.diglett.agent.Agent(io.diglett.agent.AgentConfig.of(
                        new HostPort(link.getHostString(), link.getPort()), "", "shared",
                        new HostPort("127.0.0.1", backend.getAddress().getPort()),
                        io.diglett.agent.TrustSettings.plain()))) {
                    agent.start().get(10, TimeUnit.SECONDS);
                    await(() -> holder.acme().status("shared") != null
                                    && holder.acme().status("shared").state() == CertificateStatus.State.VALID, 60_000,
                            () -> "shared's certificate: " + holder.acme().status("shared"));
                    await(() -> other.acme().status("shared") != null
                                    && other.acme().status("shared").state() == CertificateStatus.State.VALID, 20_000,
                            () -> "the other node serving it: " + other.acme().statuses());
                    assertEquals(1L, holder.acme().orders().get("issued"));
                    assertEquals(0L, other.acme().orders().get("issued"), "one order in the cluster");
                    Process curl = new ProcessBuilder("curl", "-sS", "--max-time", "10", "--cacert", root.toString(),
                            "--resolve", "shared.gw.test:" + httpsPort + ":127.0.0.3",
                            "https://shared.gw.test:" + httpsPort + "/").redirectErrorStream(true).start();
                    String out = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                    assertEquals("0 hello from shared.gw.test:" + httpsPort, curl.waitFor() + " " + out,
                            "the other node serves the certificate and forwards to the holder");
                }
            } finally {
                nodes.forEach(Gateway::close);
            }
        }
    }

    /**
     * Protocol version 6: the agent's status shows its name's certificate (Notice). A version-5 agent on the same
     * gateway is served as before and sent no Notice (docs/protocol.md, section 9).
     */
    @Test
    void theAgentsStatusShowsItsCertificateAndAVersion5AgentIsSentNoNotice(@TempDir Path state) throws Exception {
        try (TunnelFixture fixture = gateway(httpsPort, state, s -> settings(pebble, s, null, null, 40, 10))) {
            io.diglett.agent.Agent agent = fixture.agent(fixture.agentConfig("shown", backend.getAddress().getPort()));
            agent.start().get(10, TimeUnit.SECONDS);
            await(() -> String.valueOf(agent.status().tunnels().get(0).certificate()).startsWith("valid until "),
                    60_000, () -> "the agent's status: " + agent.status().tunnels().get(0).certificate());
            assertEquals("valid until " + fixture.gateway.acme().status("shown").notAfter(),
                    agent.status().tunnels().get(0).certificate());

            SSLSocket tls = HttpTestClient.connectTls(fixture.address.getPort(), "localhost");
            try (RawAgent old = RawAgent.over(tls).loggedIn(5)) {
                old.send(io.diglett.protocol.FrameKind.REGISTER, 1, "old");
                assertEquals(io.diglett.protocol.FrameKind.OK.code(), old.read().kind());
                old.finish();
                await(() -> state(fixture, "old") == CertificateStatus.State.VALID, 60_000,
                        () -> "old's certificate: " + fixture.gateway.acme().status("old"));
                old.send(io.diglett.protocol.FrameKind.PING, 0, new byte[8]);
                for (RawAgent.RawFrame frame = old.read(); frame.kind() != io.diglett.protocol.FrameKind.PONG.code();
                     frame = old.read()) {
                    assertNotEquals(io.diglett.protocol.FrameKind.NOTICE.code(), frame.kind(),
                            "a version-5 agent is sent no Notice");
                }
            }
        }
    }

    /**
     * The ACME options come from the config file too, and a SIGHUP applies them: a name held back by the budget
     * gets its certificate once the budget is raised, without a restart.
     */
    @Test
    void theConfigFileSetsAcmeAndAReloadAppliesANewBudget(@TempDir Path dir) throws Exception {
        Path config = dir.resolve("gateway.yaml");
        String base = """
                listen: 127.0.0.1:0
                bind: 127.0.0.1
                domain: gw.test
                https: 127.0.0.1:%d
                state-dir: %s
                acme: true
                acme-directory: %s
                acme-ca-cert: %s
                acme-email: ops@gw.test
                """.formatted(httpsPort, dir.resolve("state"), pebble.directory(), pebble.listenerCertificate());
        io.diglett.common.testing.CliRun.write(config, base + "acme-weekly-limit-per-token: 0\n");
        io.diglett.server.cli.ServerCommand command = io.diglett.common.testing.CliRun.parse(
                new io.diglett.server.cli.ServerCommand(), java.util.Map.of(), "--config", config.toString());
        GatewayConfig gatewayConfig = command.gatewayConfig();
        AcmeSettings acme = command.acmeSettings(gatewayConfig);
        assertEquals(URI.create(pebble.directory()), acme.directory());
        assertEquals("ops@gw.test", acme.email());
        assertEquals(0, acme.weeklyPerToken());
        assertEquals(AcmeSettings.DEFAULT_WEEKLY_LIMIT, acme.weeklyLimit());
        try (TunnelFixture fixture = new TunnelFixture(gatewayConfig, Authenticator.open(), Registrar.log(),
                dir.resolve("state"), gateway -> gateway.useAcme(acme))) {
            fixture.expose("later", backend.getAddress().getPort());
            await(() -> state(fixture, "later") == CertificateStatus.State.LIMITED, 10_000,
                    () -> "later's certificate: " + fixture.gateway.acme().status("later"));
            io.diglett.common.testing.CliRun.write(config, base + "acme-weekly-limit-per-token: 5\n");
            String outcome = new io.diglett.server.cli.GatewayReload(command, fixture.gateway).reload();
            assertTrue(outcome.contains("ACME settings applied (--acme-weekly-limit-per-token changed)"), outcome);
            await(() -> state(fixture, "later") == CertificateStatus.State.VALID, 60_000,
                    () -> "later's certificate after the reload: " + fixture.gateway.acme().status("later"));
        }
    }
}
