package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.RejectedException;
import io.diglett.protocol.HostPort;
import io.diglett.server.TestServers.Backend;
import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Links that break: a gateway restart, a blackholed link, and a name taken over from a dying link. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ReconnectTests {

    private static final Duration FAST_HEARTBEAT = Duration.ofMillis(200);

    @TempDir
    Path temp;

    private Backend echo;

    @BeforeEach
    void backend() throws IOException {
        echo = new Backend(socket -> socket.getInputStream().transferTo(socket.getOutputStream()));
    }

    @AfterEach
    void stop() throws IOException {
        echo.close();
    }

    private static void assertServes(int port) throws IOException {
        try (Socket client = TestServers.connect(port)) {
            client.setSoTimeout(5_000);
            client.getOutputStream().write('r');
            assertEquals('r', client.getInputStream().read());
        }
    }

    private static int portOf(Gateway gateway, String name) throws InterruptedException {
        TunnelTests.waitFor(() -> gateway.publicPort(name).isPresent(), "'" + name + "' is registered");
        return gateway.publicPort(name).getAsInt();
    }

    @Test
    void theAgentComesBackAfterTheGatewayRestarts() throws Exception {
        GatewayConfig config = GatewayConfig.defaults().withListen(new HostPort("127.0.0.1", 0))
                .withPublicBind("127.0.0.1").withTls(TlsSettings.generated(temp.resolve("state")))
                .withLimits(GatewayConfig.Limits.defaults().withDrainTimeout(Duration.ofMillis(500)));
        Gateway first = new Gateway(config);
        int port = first.start().getPort();
        AgentConfig agentConfig = AgentConfig.of(new HostPort("127.0.0.1", port), "", "phoenix",
                new HostPort("127.0.0.1", echo.port()), io.diglett.agent.TrustSettings.pinned(first.fingerprint()));
        try (Agent agent = new Agent(agentConfig)) {
            agent.start().get(10, TimeUnit.SECONDS);
            assertServes(portOf(first, "phoenix"));
            first.close();
            try (Gateway second = new Gateway(config.withListen(new HostPort("127.0.0.1", port)))) {
                second.start();
                assertServes(portOf(second, "phoenix"));
                assertEquals(2, agent.timesOnline());
                assertTrue(!agent.closed().isDone(), "a restart is not a reason to give up");
            }
        }
    }

    @Test
    void aBlackholedLinkIsDetectedWithinThreeHeartbeatsAndReplaced() throws Exception {
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withLimits(
                GatewayConfig.Limits.defaults().withHeartbeat(FAST_HEARTBEAT)));
             TestServers.Relay relay = new TestServers.Relay(fixture.address.getPort())) {
            Agent agent = fixture.agent(fixture.agentConfig("blackhole", echo.port())
                    .withGateway(new HostPort("127.0.0.1", relay.port())).withHeartbeat(FAST_HEARTBEAT));
            agent.start().get(10, TimeUnit.SECONDS);
            int before = portOf(fixture.gateway, "blackhole");
            assertServes(before);

            long start = System.nanoTime();
            relay.freeze(); // the open connection stops forwarding, without closing: a pulled cable
            TunnelTests.waitFor(() -> agent.timesOnline() == 2, "the agent is back online");
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            // dead after 3 silent intervals (+1 for the tick), then the first backoff step (at most 500 ms)
            assertTrue(millis < 4 * FAST_HEARTBEAT.toMillis() + 500 + 1_500, "back after " + millis + " ms");
            assertServes(portOf(fixture.gateway, "blackhole"));
        }
    }

    @Test
    void theSameTokenTakesOverANameFromItsDyingLinkAndAnotherTokenDoesNot() throws Exception {
        Path tokens = temp.resolve("tokens");
        Files.writeString(tokens, "owner-token svc\nother-token svc\n");
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults(),
                FileAuthenticator.start(tokens, Duration.ofSeconds(1)));
             TestServers.Relay relay = new TestServers.Relay(fixture.address.getPort())) {
            AgentConfig owner = fixture.agentConfig("svc", echo.port()).withToken("owner-token");
            Agent dying = fixture.agent(owner.withGateway(new HostPort("127.0.0.1", relay.port())));
            dying.start().get(10, TimeUnit.SECONDS);
            relay.freeze(); // the old link still looks alive to the gateway (default 10 s heartbeat)

            Agent other = fixture.agent(fixture.agentConfig("svc", echo.port()).withToken("other-token"));
            ExecutionException refused = assertThrows(ExecutionException.class,
                    () -> other.start().get(10, TimeUnit.SECONDS));
            assertInstanceOf(RejectedException.class, refused.getCause());
            assertEquals("name 'svc' is already in use", refused.getCause().getMessage());

            Agent back = fixture.agent(owner);
            back.start().get(10, TimeUnit.SECONDS);
            assertServes(portOf(fixture.gateway, "svc"));
            TunnelTests.waitFor(() -> fixture.gateway.agents() == 1, "the dying link was closed by the takeover");
        }
    }
}
