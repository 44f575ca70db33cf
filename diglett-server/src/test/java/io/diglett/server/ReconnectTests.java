package io.diglett.server;

import io.diglett.server.auth.FileAuthenticator;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.TlsSettings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.AgentStatus;
import io.diglett.agent.RejectedException;
import io.diglett.common.HostPort;
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
                // the gateway has the name a moment before the agent has read the Ok to its registration
                TunnelTests.waitFor(() -> agent.timesOnline() == 2, "the agent counts itself online again");
                assertTrue(!agent.closed().isDone(), "a restart is not a reason to give up");
            }
        }
    }

    /**
     * Scheduling slack on top of three heartbeat intervals: a timer that runs late on a loaded 2-core machine, the
     * close that follows, and this test's 5 ms polling. It is well under one interval (500 ms here), which is
     * what a check once per interval could add: such a check would fail this test.
     */
    private static final long DETECTION_SLACK_MILLIS = 200;

    /**
     * Polls the conditions together every 5 ms for up to 10 s and returns when (System.nanoTime) each first held.
     */
    private static long[] when(String what, java.util.function.BooleanSupplier... conditions)
            throws InterruptedException {
        long[] times = new long[conditions.length];
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (int left = conditions.length; left > 0; ) {
            long now = System.nanoTime();
            for (int i = 0; i < conditions.length; i++) {
                if (times[i] == 0 && conditions[i].getAsBoolean()) {
                    times[i] = now;
                    left--;
                }
            }
            if (left > 0 && now > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            if (left > 0) {
                Thread.sleep(5);
            }
        }
        return times;
    }

    private static int readOrReset(java.io.InputStream in) throws IOException {
        try {
            return in.read();
        } catch (java.net.SocketException reset) {
            return -1;
        }
    }

    @Test
    void aBlackholedLinkIsDeclaredDeadOnBothSidesThreeHeartbeatsAfterTheLastFrameAndReplaced() throws Exception {
        Duration heartbeat = Duration.ofMillis(500);
        long interval = heartbeat.toMillis();
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withLimits(
                GatewayConfig.Limits.defaults().withHeartbeat(heartbeat)));
             TestServers.Relay relay = new TestServers.Relay(fixture.address.getPort())) {
            // one link: with more, a link the agent opens after the freeze keeps its session and names alive
            // (MultiLinkTests); here the point is when each end declares its only link dead
            Agent agent = fixture.agent(fixture.agentConfig("blackhole", echo.port())
                    .withGateway(new HostPort("127.0.0.1", relay.port())).withHeartbeat(heartbeat).withLinks(1));
            agent.start().get(10, TimeUnit.SECONDS);
            int before = portOf(fixture.gateway, "blackhole");
            assertServes(before);
            try (Socket client = TestServers.connect(before)) {
                client.setSoTimeout(5_000);
                client.getOutputStream().write('x');
                assertEquals('x', client.getInputStream().read(), "a stream open across the freeze");

                // The open link stops forwarding, without closing: a pulled cable. It happens just after a
                // heartbeat exchange the gateway started, so the gateway has just heard the agent: a check once
                // per interval would find only 3 intervals minus that round trip of silence at its third check
                // and declare the link dead a whole interval later
                TestServers.Relay.Frozen frozen = relay.freezeAfterTargetsNextExchange().get(10, TimeUnit.SECONDS);
                long[] dead = when("both ends declare the link dead",
                        () -> agent.status().state() != AgentStatus.State.ONLINE,
                        () -> fixture.gateway.publicPort("blackhole").orElse(-1) != before);
                long agentDead = dead[0];
                long gatewayDead = dead[1];
                assertEquals(-1, readOrReset(client.getInputStream()), "the stream across the freeze was reset");

                long agentMillis = TimeUnit.NANOSECONDS.toMillis(agentDead - frozen.lastToClient());
                long gatewayMillis = TimeUnit.NANOSECONDS.toMillis(gatewayDead - frozen.lastToTarget());
                String figures = "the agent after " + agentMillis + " ms, the gateway after " + gatewayMillis
                        + " ms of silence (heartbeat " + interval + " ms; frozen "
                        + TimeUnit.NANOSECONDS.toMillis(frozen.at() - frozen.lastToClient()) + " ms after the last"
                        + " frame to the agent)";
                System.out.println("blackhole: link declared dead by " + figures);
                // the relay's clock starts a moment before the end hears the frame, hence a little leeway below
                assertTrue(agentMillis >= 3 * interval - 50 && gatewayMillis >= 3 * interval - 50,
                        "not before three silent intervals: " + figures);
                assertTrue(agentMillis <= 3 * interval + DETECTION_SLACK_MILLIS
                        && gatewayMillis <= 3 * interval + DETECTION_SLACK_MILLIS,
                        "within three intervals (+" + DETECTION_SLACK_MILLIS + " ms slack): " + figures);
            }
            TunnelTests.waitFor(() -> agent.timesOnline() == 2, "the agent is back online");
            assertServes(portOf(fixture.gateway, "blackhole"));
        }
    }

    /** A gateway whose token file lets both "owner-token" and "other-token" register "svc". */
    private TunnelFixture twoTokensForSvc() throws Exception {
        Path tokens = temp.resolve("tokens");
        Files.writeString(tokens, "owner-token svc\nother-token svc\n");
        return new TunnelFixture(GatewayConfig.defaults(), FileAuthenticator.start(tokens, Duration.ofSeconds(1)));
    }

    @Test
    void theSameTokenTakesOverANameFromItsDyingLinkAndAnotherTokenDoesNot() throws Exception {
        try (TunnelFixture fixture = twoTokensForSvc();
             TestServers.Relay relay = new TestServers.Relay(fixture.address.getPort())) {
            AgentConfig owner = fixture.agentConfig("svc", echo.port()).withToken("owner-token");
            // one link, all of it frozen: a second link opened after the freeze would keep the agent alive
            Agent dying = fixture.agent(owner.withGateway(new HostPort("127.0.0.1", relay.port())).withLinks(1));
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

    @Test
    void anAgentThatFindsItsNameTakenByAnotherTokenOnReconnectStopsWithTheReason() throws Exception {
        try (TunnelFixture fixture = twoTokensForSvc();
             TestServers.Relay relay = new TestServers.Relay(fixture.address.getPort())) {
            Agent owner = fixture.agent(fixture.agentConfig("svc", echo.port()).withToken("owner-token")
                    .withGateway(new HostPort("127.0.0.1", relay.port())));
            owner.start().get(10, TimeUnit.SECONDS);

            relay.hold(); // the owner's next connection waits at the relay...
            relay.cut(); // ...after its link was reset: the gateway releases the name at once
            TunnelTests.waitFor(() -> fixture.gateway.publicPort("svc").isEmpty(), "'svc' is released");
            Agent other = fixture.agent(fixture.agentConfig("svc", echo.port()).withToken("other-token"));
            other.start().get(10, TimeUnit.SECONDS);
            relay.release(); // the owner reconnects and finds its name held under another token

            assertEquals("name 'svc' is already in use", owner.closed().get(10, TimeUnit.SECONDS),
                    "the owner stops with the gateway's reason instead of retrying");
            assertEquals(AgentStatus.State.REFUSED, owner.status().state());
            assertEquals(1, owner.timesOnline());
            assertServes(portOf(fixture.gateway, "svc"));
            TunnelTests.waitFor(() -> fixture.gateway.agents() == 1, "only the other agent is connected");
        }
    }
}
