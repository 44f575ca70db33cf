package io.diglett.server;

import io.diglett.server.cli.ServerCommand;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentCommand;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.TrustSettings;
import io.diglett.common.HostPort;
import io.diglett.common.transport.Fingerprint;
import io.diglett.protocol.testing.Fuzzing.LogCapture;
import io.diglett.server.TestServers.Backend;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Real processes killed and stopped: what users and clients see when a gateway or an agent dies. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FaultInjectionTests {

    private static final String LISTENING = "listening for agents on 127\\.0\\.0\\.1:(\\d+) .*TLS 1\\.3 .*?(SHA256:\\S+),";

    /** The agent's backoff cap in the restart test: small, so "back within its backoff" is a tight bound. */
    private static final Duration RECONNECT_CAP = Duration.ofSeconds(1);

    /**
     * Time for TLS, login and registration once the agent dials a gateway that has just started: the new JVM
     * runs that code for the first time (class loading, interpreted TLS) on a 2-core machine that is busy with
     * this test and another JVM. It is a multiple of what a warm handshake takes, not of the backoff cap.
     */
    private static final long HANDSHAKE_SLACK_MILLIS = 2_000;

    @TempDir
    Path temp;

    /** A gateway process on {@code port} (0: any), its TLS identity kept in the test's state directory. */
    private ChildProcess gateway(int port) throws IOException {
        return ChildProcess.start(ServerCommand.class, "-l", "127.0.0.1:" + port, "--bind", "127.0.0.1",
                "--state-dir", temp.resolve("state").toString(), "--heartbeat", "1", "--drain-timeout", "5");
    }

    private static int readOrReset(InputStream in) throws IOException {
        try {
            while (in.read() >= 0) {
                // drain whatever was in flight
            }
            return -1;
        } catch (java.net.SocketException reset) {
            return -1;
        }
    }

    @Test
    void killingTheGatewayMidTransferClosesTheClientAndTheAgentComesBackAfterARestart() throws Exception {
        try (Backend endless = new Backend(socket -> {
                OutputStream out = socket.getOutputStream();
                byte[] chunk = new byte[16 * 1024];
                while (true) {
                    out.write(chunk);
                }
            });
             ChildProcess first = gateway(0)) {
            Matcher listening = first.await(LISTENING, 30_000);
            int port = Integer.parseInt(listening.group(1));
            Fingerprint fingerprint = Fingerprint.parse(listening.group(2));
            AgentConfig config = AgentConfig.of(new HostPort("127.0.0.1", port), "", "survivor",
                    new HostPort("127.0.0.1", endless.port()), TrustSettings.pinned(fingerprint))
                    .withHeartbeat(Duration.ofSeconds(1)).withReconnectCap(RECONNECT_CAP);
            try (Agent agent = new Agent(config)) {
                int publicPort = agent.start().get(20, TimeUnit.SECONDS).get(0).publicPort();
                try (Socket client = TestServers.connect(publicPort)) {
                    client.setSoTimeout(10_000);
                    InputStream in = client.getInputStream();
                    assertTrue(in.readNBytes(100_000).length == 100_000, "the transfer is under way");
                    first.kill();
                    long start = System.nanoTime();
                    assertEquals(-1, readOrReset(in), "the client sees the end, not a hang");
                    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                    assertTrue(millis < 5_000, "closed after " + millis + " ms");
                }
                try (ChildProcess second = gateway(port)) {
                    second.await(LISTENING, 30_000);
                    long listeningAt = System.nanoTime();
                    TunnelTests.waitFor(() -> agent.timesOnline() == 2, "the agent is online again");
                    long back = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - listeningAt);
                    System.out.println("restart: the agent was online again " + back + " ms after the new gateway"
                            + " listened");
                    // the agent retries at most every RECONNECT_CAP (it has been failing for seconds by now),
                    // then needs TLS, login and registration with a gateway JVM that has just started
                    assertTrue(back <= RECONNECT_CAP.toMillis() + HANDSHAKE_SLACK_MILLIS,
                            "online again " + back + " ms after the new gateway listened (backoff cap "
                                    + RECONNECT_CAP.toMillis() + " ms)");
                    int newPort = Integer.parseInt(second.await("register domain 'survivor' -> '(\\d+)'", 10_000)
                            .group(1));
                    try (Socket client = TestServers.connect(newPort)) {
                        client.setSoTimeout(10_000);
                        assertEquals(100_000, client.getInputStream().readNBytes(100_000).length,
                                "the tunnel serves the backend's bytes again, on its new port " + newPort);
                    }
                }
            }
        }
    }

    @Test
    void killingTheAgentClosesItsClientsWithinASecondAndFreesTheName() throws Exception {
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture();
             ChildProcess agent = ChildProcess.start(AgentCommand.class, "-g", "127.0.0.1:" + fixture.address.getPort(),
                     "-n", "mortal", "--fingerprint", fixture.gateway.fingerprint().toString(),
                     "127.0.0.1:" + echo.port())) {
            int publicPort = Integer.parseInt(agent.await("online: 'mortal' is reachable at 127\\.0\\.0\\.1:(\\d+)",
                    30_000).group(1));
            Socket[] clients = new Socket[3];
            for (int i = 0; i < clients.length; i++) {
                clients[i] = TestServers.connect(publicPort);
                clients[i].getOutputStream().write('k');
                assertEquals('k', clients[i].getInputStream().read());
                clients[i].setSoTimeout(5_000);
            }
            agent.kill();
            long start = System.nanoTime();
            for (Socket client : clients) {
                assertEquals(-1, readOrReset(client.getInputStream()));
                client.close();
            }
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(millis < 1_000, "clients closed after " + millis + " ms");
            TunnelTests.waitFor(() -> fixture.gateway.publicPort("mortal").isEmpty(), "the name is free");
            TestServers.awaitClosed(publicPort, "the port is closed");
        }
    }

    @Test
    void sigtermOnTheGatewayLetsOpenStreamsFinishThenExitsZero() throws Exception {
        try (Backend slow = new Backend(socket -> {
                socket.getInputStream().read();
                OutputStream out = socket.getOutputStream();
                for (int i = 0; i < 10; i++) {
                    out.write(("part " + i + "\n").getBytes());
                    out.flush();
                    Thread.sleep(150);
                }
            });
             ChildProcess gateway = gateway(0)) {
            Matcher listening = gateway.await(LISTENING, 30_000);
            AgentConfig config = AgentConfig.of(new HostPort("127.0.0.1", Integer.parseInt(listening.group(1))), "",
                    "draining", new HostPort("127.0.0.1", slow.port()),
                    TrustSettings.pinned(Fingerprint.parse(listening.group(2))));
            LogCapture logs = LogCapture.start();
            try (Agent agent = new Agent(config)) {
                int publicPort = agent.start().get(20, TimeUnit.SECONDS).get(0).publicPort();
                try (Socket client = TestServers.connect(publicPort)) {
                    client.getOutputStream().write('g');
                    CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(() -> {
                        try {
                            Thread.sleep(200);
                            return gateway.terminate(20_000);
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    });
                    String body = new String(client.getInputStream().readAllBytes());
                    assertTrue(body.startsWith("part 0\n") && body.endsWith("part 9\n"),
                            "the whole response arrived during the drain: " + body);
                    assertEquals(0, exit.get(30, TimeUnit.SECONDS), "exit code after SIGTERM");
                }
                TunnelTests.waitFor(() -> logs.text().contains("; reconnecting in "), "the agent reconnects");
                String line = logs.text().lines().filter(l -> l.contains("; reconnecting in ")).findFirst()
                        .orElseThrow();
                assertTrue(line.contains("the gateway ended the session: gateway shutting down"),
                        "the agent was told by a Terminate, it did not just lose the link: " + line);
            } finally {
                logs.stop();
            }
        }
    }

    /** The agent's first "reconnecting" line, which says why it lost the link. */
    private static String firstReconnectLine(ChildProcess agent) throws InterruptedException {
        return agent.await("^.*; reconnecting in .*$", 20_000).group();
    }

    @Test
    void sigtermOnTheGatewayTellsAnIdleAgentWhichReconnectsToTheNextGateway() throws Exception {
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             ChildProcess gateway = gateway(0)) {
            Matcher listening = gateway.await(LISTENING, 30_000);
            int port = Integer.parseInt(listening.group(1));
            try (ChildProcess agent = ChildProcess.start(AgentCommand.class, "--no-console", "-g", "127.0.0.1:" + port,
                    "-n", "idle", "--fingerprint", listening.group(2), "--reconnect-max", "1",
                    "127.0.0.1:" + echo.port())) {
                agent.await("online: 'idle' is reachable", 30_000);
                assertEquals(0, gateway.terminate(20_000), "exit code after SIGTERM");
                String line = firstReconnectLine(agent);
                assertTrue(line.contains("the gateway ended the session: gateway shutting down"),
                        "the agent was told by a Terminate, it did not just lose the link: " + line);
                try (ChildProcess next = gateway(port)) {
                    next.await("register domain 'idle'", 30_000);
                }
            }
        }
    }

    @Test
    void sigtermOnTheAgentUnregistersAndExitsZero() throws Exception {
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture();
             ChildProcess agent = ChildProcess.start(AgentCommand.class, "-g", "127.0.0.1:" + fixture.address.getPort(),
                     "-n", "polite", "--fingerprint", fixture.gateway.fingerprint().toString(),
                     "127.0.0.1:" + echo.port())) {
            agent.await("online: 'polite'", 30_000);
            assertTrue(fixture.gateway.publicPort("polite").isPresent());
            assertEquals(0, agent.terminate(10_000));
            TunnelTests.waitFor(() -> fixture.gateway.publicPort("polite").isEmpty(), "the name is released");
        }
    }
}
