package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.AgentStatus;
import io.diglett.agent.Registration;
import io.diglett.agent.TunnelSpec;
import io.diglett.common.HostPort;
import io.diglett.protocol.FrameKind;
import io.diglett.server.RawAgent.RawFrame;
import io.diglett.server.TestServers.Backend;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.TlsSettings;
import io.diglett.server.link.GatewaySession;
import java.io.IOException;
import java.net.Socket;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Two links of one token ask for the same name (docs/security.md, "One token, one agent"): the holder keeps it while
 * it is alive, loses it (and only it) when it does not answer the gateway's Ping within the deadline, and hands it
 * over at once to its own agent process reconnecting. Real sockets, a plaintext gateway (so that raw agents can
 * play a frozen or a live holder byte by byte), the default heartbeat (a 2 s liveness deadline).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TakeoverTests {

    private static final String TOKEN = "shared-token";

    private Backend echo;
    private TunnelFixture fixture;

    @BeforeEach
    void start() throws Exception {
        echo = new Backend(socket -> socket.getInputStream().transferTo(socket.getOutputStream()));
        fixture = new TunnelFixture(GatewayConfig.defaults().withTls(TlsSettings.plain()));
    }

    @AfterEach
    void stop() throws IOException {
        fixture.close();
        echo.close();
    }

    private AgentConfig agentConfig(String... names) {
        List<TunnelSpec> tunnels = java.util.Arrays.stream(names)
                .map(name -> new TunnelSpec(name, new HostPort("127.0.0.1", echo.port()))).toList();
        return fixture.agentConfig(names[0], echo.port()).withTunnels(tunnels).withToken(TOKEN);
    }

    private RawAgent raw() throws IOException {
        return new RawAgent(fixture.address.getPort());
    }

    private static void assertServes(int port) throws IOException {
        try (Socket client = TestServers.connect(port)) {
            client.setSoTimeout(5_000);
            client.getOutputStream().write('r');
            assertEquals('r', client.getInputStream().read());
        }
    }

    private int port(String name) {
        return fixture.gateway.publicPort(name).orElse(-1);
    }

    @Test
    void aLiveHolderKeepsItsNamesAndTheNewcomerIsToldToTryAgain() throws Exception {
        Agent holder = fixture.agent(agentConfig("live-a", "live-b"));
        List<Registration> held = holder.start().get(10, TimeUnit.SECONDS);
        int a = held.get(0).publicPort();
        int b = held.get(1).publicPort();

        Agent newcomer = fixture.agent(agentConfig("live-a"));
        var online = newcomer.start();
        TunnelTests.waitFor(() -> "name 'live-a' is in use by a live agent".equals(newcomer.status().lastError()),
                "the newcomer is told the name is in use by a live agent");
        assertEquals(AgentStatus.State.RECONNECTING, newcomer.status().state(), "a retryable error, not a refusal");
        assertTrue(!online.isDone() && !newcomer.closed().isDone(), "the newcomer keeps trying");

        assertEquals(AgentStatus.State.ONLINE, holder.status().state());
        assertEquals(1, holder.timesOnline(), "the holder's link was never touched");
        assertEquals(a, port("live-a"));
        assertEquals(b, port("live-b"));
        assertServes(a);
        assertServes(b);

        // once the holder is gone for good, the waiting agent gets the name on its next attempt
        holder.close();
        assertEquals("live-a", online.get(30, TimeUnit.SECONDS).get(0).name());
        assertServes(port("live-a"));
    }

    @Test
    void aFrozenHolderLosesOnlyTheContestedNameWithinTheDeadline() throws Exception {
        try (RawAgent holder = raw().loggedIn(TOKEN, UUID.randomUUID())) {
            holder.register(1, "frozen-a");
            int b = holder.register(2, "frozen-b");
            holder.finish();
            // from now on the holder reads and answers nothing: a process stopped with SIGSTOP

            long start = System.nanoTime();
            List<Registration> taken = fixture.agent(agentConfig("frozen-a")).start().get(10, TimeUnit.SECONDS);
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            System.out.println("takeover from a frozen holder after " + millis + " ms");
            long deadline = GatewaySession.LIVENESS_DEADLINE_CAP.toMillis();
            assertTrue(millis >= deadline - 100, "the gateway waited for the holder's answer: " + millis + " ms");
            assertTrue(millis < deadline + 3_000, "taken over within the deadline (+3 s slack): " + millis + " ms");

            // the port grace keeps the port for the token and name, so the newcomer usually gets the same one back
            assertEquals(taken.get(0).publicPort(), port("frozen-a"));
            assertServes(port("frozen-a"));
            assertEquals(b, port("frozen-b"), "the frozen holder keeps its other name");
            assertEquals(2, fixture.gateway.agents(), "and its link");

            RawFrame notice = holder.readSkippingKeepalive();
            assertEquals(FrameKind.ERROR.code(), notice.kind());
            assertEquals(1, notice.id(), "an Error for the registration it lost");
            assertTrue(notice.text().startsWith("name 'frozen-a' was taken over by another connection of the same"
                    + " token from 127.0.0.1:"), notice.text());
        }
    }

    private static void signal(ChildProcess process, String signal) throws Exception {
        assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).inheritIO().start()
                .waitFor(), "kill -" + signal);
    }

    /**
     * A real agent process stopped with SIGSTOP loses only the contested name; resumed, it reads the gateway's
     * notice, says which name it lost and serves its other name on the same link.
     */
    @Test
    void aStoppedAgentProcessLosesOneNameAndKeepsServingTheOtherOnceResumed() throws Exception {
        try (ChildProcess frozen = ChildProcess.start(io.diglett.agent.AgentCommand.class, "--plaintext", "-g",
                "127.0.0.1:" + fixture.address.getPort(), "-t", TOKEN, "-n", "stop-a", "-n", "stop-b",
                "127.0.0.1:" + echo.port())) {
            frozen.await("online: 'stop-b' is reachable", 30_000);
            int b = port("stop-b");
            assertServes(b);
            signal(frozen, "STOP");
            try {
                List<Registration> taken = fixture.agent(agentConfig("stop-a")).start().get(10, TimeUnit.SECONDS);
                assertEquals(taken.get(0).publicPort(), port("stop-a"));
                assertServes(port("stop-a"));
                assertEquals(b, port("stop-b"), "the stopped agent keeps its other name");
            } finally {
                signal(frozen, "CONT");
            }
            frozen.await("the gateway withdrew 'stop-a': name 'stop-a' was taken over by another connection of the"
                    + " same token", 10_000);
            assertServes(b);
            assertEquals(1, frozen.lines().stream().filter(l -> l.contains("connecting to gateway")).count(),
                    "the resumed agent kept its link");
        }
    }

    @Test
    void theSameAgentProcessTakesItsNameOverAtOnceFromALiveLink() throws Exception {
        UUID instance = UUID.randomUUID();
        AtomicBoolean pinging = new AtomicBoolean(true);
        try (RawAgent holder = raw().loggedIn(TOKEN, instance)) {
            holder.register(1, "same-a");
            int b = holder.register(2, "same-b");
            holder.finish();
            // the holder's link stays alive: it speaks every 100 ms, so it would pass any liveness check
            Thread pinger = new Thread(() -> {
                try {
                    for (long n = 1; pinging.get(); n++) {
                        holder.send(FrameKind.PING, 0, java.nio.ByteBuffer.allocate(8).putLong(n).array());
                        Thread.sleep(100);
                    }
                } catch (IOException | InterruptedException ignored) {
                    // the test ended
                }
            }, "holder-pinger");
            pinger.setDaemon(true);
            pinger.start();

            try (RawAgent other = raw().loggedIn(TOKEN, UUID.randomUUID())) {
                other.send(FrameKind.REGISTER, 1, "same-b");
                RawFrame busy = other.readSkippingKeepalive();
                assertEquals(FrameKind.ERROR.code(), busy.kind(), "another agent of the token: not handed over");
                assertEquals("name 'same-b' is in use by a live agent", busy.text());
            }

            try (RawAgent again = raw().loggedIn(TOKEN, instance)) {
                long start = System.nanoTime();
                int a = again.register(7, "same-a");
                long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                System.out.println("takeover by the same agent process after " + millis + " ms");
                again.finish();
                assertEquals(a, port("same-a"), "the same agent process took its name over from a live link");
                assertServesRaw(again, a);

                RawFrame notice = holder.readSkippingKeepalive();
                assertEquals(FrameKind.ERROR.code(), notice.kind());
                assertEquals(1, notice.id());
                assertTrue(notice.text().endsWith("(the same agent reconnected)"), notice.text());
                assertEquals(b, port("same-b"), "the old link keeps its other name");
            } finally {
                pinging.set(false);
            }
        }
    }

    /** A public connection to {@code port} reaches the raw agent as an Open. */
    private static void assertServesRaw(RawAgent agent, int port) throws IOException {
        try (Socket client = TestServers.connect(port)) {
            RawFrame open = agent.readSkippingKeepalive();
            assertEquals(FrameKind.OPEN.code(), open.kind(), "a connection from " + client.getLocalSocketAddress());
        }
    }
}
