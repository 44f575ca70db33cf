package io.diglett.server;

import io.diglett.server.cli.GatewayReload;
import io.diglett.server.cli.ServerCommand;
import io.diglett.server.registrar.Registrar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.TrustSettings;
import io.diglett.common.HostPort;
import io.diglett.common.testing.CliRun;
import io.diglett.server.TestServers.Backend;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGHUP: the gateway re-reads its config file and token file and applies tokens, limits and the registrar
 * without dropping tunnels; in this JVM through {@link GatewayReload#reload()}, and once with a real signal.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GatewayReloadTests {

    @TempDir
    Path temp;

    private Path tokens;
    private Path config;
    private Backend echo;

    @BeforeEach
    void files() throws Exception {
        tokens = Files.writeString(temp.resolve("tokens"), "alice-secret web\nbob-secret shop\n");
        config = temp.resolve("gateway.yaml");
        configure("");
        echo = new Backend(socket -> socket.getInputStream().transferTo(socket.getOutputStream()));
    }

    @AfterEach
    void stop() throws IOException {
        echo.close();
    }

    /** The config file: plaintext on 127.0.0.1, the token file polled so rarely that only a reload reads it. */
    private void configure(String more) throws IOException {
        CliRun.write(config, """
                listen: 127.0.0.1:0
                bind: 127.0.0.1
                plaintext: true
                auth-file: %s
                auth-option: {reload-interval-ms: 600000}
                """.formatted(tokens) + more);
    }

    /** An in-JVM gateway started from the config file, as {@code diglett-server --config FILE} would. */
    private record Running(TunnelFixture fixture, GatewayReload reload, int echoPort) implements AutoCloseable {
        /** An agent (not started yet) exposing the echo backend as {@code name}. */
        Agent agent(String name, String token) {
            return fixture.agent(fixture.agentConfig(name, echoPort).withToken(token));
        }

        @Override
        public void close() {
            fixture.close();
        }
    }

    private Running start() throws Exception {
        ServerCommand command = CliRun.parse(new ServerCommand(), Map.of(), "--config", config.toString());
        TunnelFixture fixture = new TunnelFixture(command.gatewayConfig(), command.authenticator(),
                command.registrar(null));
        return new Running(fixture, new GatewayReload(command, fixture.gateway), echo.port());
    }

    /** Starts {@code agent} and returns its public port. */
    private static int online(Agent agent) throws Exception {
        return agent.start().get(20, TimeUnit.SECONDS).get(0).publicPort();
    }

    private static void assertEchoes(Socket client) throws IOException {
        client.setSoTimeout(5_000);
        client.getOutputStream().write('x');
        assertEquals('x', client.getInputStream().read());
    }

    private static void assertServes(int port) throws IOException {
        try (Socket client = TestServers.connect(port)) {
            assertEchoes(client);
        }
    }

    /**
     * A connection that echoes, once the streams of earlier connections have finished (they may linger for a
     * moment, and count against the limit while they do).
     */
    private static Socket serving(int port) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            Socket client = TestServers.connect(port);
            try {
                assertEchoes(client);
                return client;
            } catch (IOException | AssertionError refused) {
                client.close();
                if (System.nanoTime() > deadline) {
                    throw refused;
                }
                Thread.sleep(50);
            }
        }
    }

    /** The peer closed {@code socket} without a byte, or reset it. */
    private static void assertClosedAtOnce(Socket socket) throws IOException {
        socket.setSoTimeout(5_000);
        try {
            assertEquals(-1, socket.getInputStream().read());
        } catch (SocketException reset) {
            // closed with a reset: closed all the same
        }
    }

    @Test
    void tokensLimitsAndRegistrarAreAppliedWithoutDroppingTunnels() throws Exception {
        try (Running gateway = start()) {
            Agent alice = gateway.agent("web", "alice-secret");
            int port = online(alice);
            Agent bob = gateway.agent("shop", "bob-secret");
            online(bob);
            assertServes(port);

            Files.writeString(tokens, "alice-secret web\n");
            Path traefik = temp.resolve("traefik");
            configure("""
                    max-streams-per-agent: 1
                    registrar: traefik
                    registrar-option: {dir: %s, domain: example.test}
                    window: 512k
                    """.formatted(traefik));
            String outcome = gateway.reload().reload();
            assertTrue(outcome.startsWith("reload: limits max-streams-per-agent auto -> 1; tokens re-read; "
                    + "registrar traefik in place"), outcome);
            assertTrue(outcome.endsWith("; needs a restart, ignored: --window"), outcome);

            String reason = bob.closed().get(10, TimeUnit.SECONDS);
            assertTrue(reason.contains("authorization for 'shop' withdrawn"), reason);
            assertServes(port);
            assertEquals(1, alice.timesOnline(), "alice's tunnel was not dropped");
            assertFalse(alice.closed().isDone());
            TunnelTests.waitFor(() -> Files.exists(traefik.resolve("diglett-web.yml"))
                    && !Files.exists(traefik.resolve("diglett-shop.yml")), "traefik exposes web only");

            try (Socket first = serving(port); Socket second = TestServers.connect(port)) {
                assertClosedAtOnce(second); // one stream per agent now
                assertEchoes(first);
            }
            serving(port).close();

            String again = gateway.reload().reload();
            assertEquals("reload: tokens re-read; needs a restart, ignored: --window", again,
                    "applied parts are not applied twice; the restart is still needed");
        }
    }

    @Test
    void thePreLoginLimitsAreReloadedForConnectionsAcceptedAfterwards() throws Exception {
        try (Running gateway = start()) {
            configure("max-pending-logins-per-ip: 1\nlogin-timeout: 7\n");
            String outcome = gateway.reload().reload();
            assertTrue(outcome.startsWith("reload: limits "), outcome);
            assertTrue(outcome.contains("max-pending-logins-per-ip 16 -> 1")
                    && outcome.contains("login-timeout 5.0 -> 7.0"), outcome);
            assertEquals(1, gateway.fixture().gateway.config().preLogin().maxPendingLoginsPerIp());
            try (Socket held = TestServers.connect(gateway.fixture().address.getPort())) {
                TunnelTests.waitFor(() -> gateway.fixture().gateway.pendingLogins() == 1, "the first one is held");
                assertTrue(held.isConnected());
                try (Socket second = TestServers.connect(gateway.fixture().address.getPort())) {
                    assertClosedAtOnce(second);
                }
            }
        }
    }

    /**
     * With the ingress on, names registered under the log registrar have no raw port; a registrar that routes
     * to ports (traefik) would point their routes at port 0, so the reload refuses it and the old one stays.
     */
    @Test
    void aRegistrarThatRoutesToPortsIsRefusedWhileLiveNamesHaveNone() throws Exception {
        Path traefik = temp.resolve("traefik");
        String ingress = "domain: gw.test\nhttp: 127.0.0.1:0\n";
        configure(ingress);
        try (Running gateway = start()) {
            Agent alice = gateway.agent("web", "alice-secret");
            assertEquals(0, online(alice), "the ingress serves it: no raw port");
            configure(ingress + "registrar: traefik\nregistrar-option: {dir: %s, domain: gw.test}\n"
                    .formatted(traefik));
            String outcome = gateway.reload().reload();
            assertTrue(outcome.contains("registrar log kept, the new one failed: it routes to the names' ports, and"
                    + " 1 live name(s) have none (the ingress serves them, e.g. 'web')"), outcome);
            assertTrue(gateway.fixture().gateway.registrar() instanceof Registrar.LogRegistrar);
            assertFalse(Files.exists(traefik.resolve("diglett-web.yml")), "nothing routed to port 0");
            assertEquals(1, alice.timesOnline());
        }
    }

    @Test
    void aRegistrarThatFailsLeavesTheOldOneInPlace() throws Exception {
        try (Running gateway = start()) {
            Agent alice = gateway.agent("web", "alice-secret");
            int port = online(alice);

            configure("registrar: exec\nregistrar-option: {command: 'exit 3'}\n");
            String outcome = gateway.reload().reload();
            assertTrue(outcome.contains("registrar log kept, the new one failed: exposing 'web' failed: the "
                    + "registrar refused it"), outcome);
            assertTrue(gateway.fixture().gateway.registrar() instanceof Registrar.LogRegistrar);

            configure("registrar: exec\nregistrar-option: {command: 'nope'}\nmax-agents: 0\n");
            String broken = gateway.reload().reload();
            assertTrue(broken.contains("limits kept: limits must be at least 1"), broken);

            configure("registrar: traefik\nregistrar-option: {domain: example.test}\n");
            assertTrue(gateway.reload().reload().contains("the new one failed: the traefik registrar needs "
                    + "--registrar-option dir=..."));

            configure("lisen: 127.0.0.1:0\n");
            assertTrue(gateway.reload().reload().startsWith("reload: configuration not reloaded, nothing changed: "
                    + "config file " + config + ": unknown key 'lisen'"));
            assertServes(port);
            assertEquals(1, alice.timesOnline());
        }
    }

    @Test
    void aRegistrarOfTheSameKindTakesOverTheEntriesOfTheOldOne() throws Exception {
        Path traefik = temp.resolve("traefik");
        configure("registrar: traefik\nregistrar-option: {dir: %s, domain: one.test}\n".formatted(traefik));
        try (Running gateway = start()) {
            online(gateway.agent("web", "alice-secret"));
            Path web = traefik.resolve("diglett-web.yml");
            assertTrue(Files.readString(web).contains("web.one.test"));

            configure("registrar: traefik\nregistrar-option: {dir: %s, domain: two.test}\n".formatted(traefik));
            String outcome = gateway.reload().reload();
            assertTrue(outcome.contains("registrar traefik in place, 1 live name(s) exposed by it"), outcome);
            // the old registrar was closed before reload() returned, and closing finishes what it was asked: a
            // withdrawal by it would have removed the file by now
            assertTrue(Files.readString(web).contains("web.two.test"), "replaced in place, not withdrawn");
        }
    }

    /** Whether this JVM (and so its children) started with SIGHUP ignored, as under nohup. */
    private static boolean sighupIgnoredHere() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("SigIgn:")) {
                return (Long.parseUnsignedLong(line.substring(7).trim(), 16) & 1L) != 0;
            }
        }
        return false;
    }

    /** The real thing: {@code kill -HUP} on a gateway in its own JVM. */
    @Test
    void sighupReloadsARunningGateway() throws Exception {
        try (ChildProcess child = ChildProcess.start(ServerCommand.class, "--config", config.toString())) {
            child.await("options from config file " + java.util.regex.Pattern.quote(config.toString()), 30_000);
            if (sighupIgnoredHere()) {
                // started under nohup: the child inherits the ignored SIGHUP and the JVM keeps it ignored; the
                // gateway must say so at start (the reload itself is exercised through reload() above)
                child.await(java.util.regex.Pattern.quote(GatewayReload.SIGHUP_IGNORED), 30_000);
                return;
            }
            int gatewayPort = Integer.parseInt(child.await("listening for agents on 127\\.0\\.0\\.1:(\\d+)", 30_000)
                    .group(1));
            HostPort at = new HostPort("127.0.0.1", gatewayPort);
            try (Agent alice = new Agent(AgentConfig.of(at, "alice-secret", "web",
                    new HostPort("127.0.0.1", echo.port()), TrustSettings.plain()));
                 Agent bob = new Agent(AgentConfig.of(at, "bob-secret", "shop",
                         new HostPort("127.0.0.1", echo.port()), TrustSettings.plain()))) {
                int port = online(alice);
                online(bob);

                Files.writeString(tokens, "alice-secret web\n");
                configure("max-agents: 1\n");
                Process kill = new ProcessBuilder("kill", "-HUP", Long.toString(child.pid())).start();
                assertEquals(0, kill.waitFor());
                child.await("reload: limits max-agents 1024 -> 1; tokens re-read$", 20_000);

                String reason = bob.closed().get(10, TimeUnit.SECONDS);
                assertTrue(reason.contains("authorization for 'shop' withdrawn"), reason);
                assertServes(port);
                assertEquals(1, alice.timesOnline(), "alice's tunnel was not dropped");
                try (Socket third = TestServers.connect(gatewayPort)) {
                    assertClosedAtOnce(third); // alice is the one agent allowed now (bob's link may linger)
                }
                assertServes(port);
            }
        }
    }
}
