package io.diglett.server;

import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.PortRange;
import io.diglett.server.config.TlsSettings;
import io.diglett.server.link.GatewaySession;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentCommand;
import io.diglett.agent.RejectedException;
import io.diglett.common.testing.CliRun;
import io.diglett.protocol.FrameKind;
import io.diglett.common.HostPort;
import io.diglett.protocol.Protocol;
import io.diglett.common.Version;
import io.diglett.protocol.testing.Fuzzing.LogCapture;
import io.diglett.server.RawAgent.RawFrame;
import io.diglett.server.TestServers.Backend;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Protocol-level bad input on the agent port of a plaintext gateway (so the bytes are ours to choose), refused names and agents that go away: each gets a clear error, only the
 * offending connection closes, and a live tunnel keeps serving throughout.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GatewayInputTests {

    private TunnelFixture fixture;
    private Backend echo;
    private int livePort;

    @BeforeEach
    void start() throws Exception {
        fixture = TunnelFixture.plaintext();
        echo = new Backend(socket -> socket.getInputStream().transferTo(socket.getOutputStream()));
        livePort = fixture.expose("live", echo.port());
    }

    @AfterEach
    void stop() throws IOException {
        fixture.close();
        echo.close();
    }

    /** The live tunnel still carries a round trip. */
    private void assertLiveTunnelServes() throws IOException {
        try (Socket client = TestServers.connect(livePort)) {
            client.setSoTimeout(5_000);
            client.getOutputStream().write("ping".getBytes(StandardCharsets.UTF_8));
            assertEquals("ping", new String(TestServers.readExactly(client.getInputStream(), 4),
                    StandardCharsets.UTF_8));
        }
    }

    private RawAgent raw() throws IOException {
        return new RawAgent(fixture.address.getPort());
    }

    private static void assertConnectionError(RawAgent agent, String expected) throws IOException {
        RawFrame error = agent.read();
        assertEquals(FrameKind.ERROR.code(), error.kind(), "an Error frame, got kind " + error.kind());
        assertEquals(Protocol.CONNECTION_ID, error.id());
        assertTrue(error.text().contains(expected), "error '" + error.text() + "' should mention '" + expected + "'");
        assertTrue(agent.closedByPeer(), "the gateway closes the connection");
    }

    @Test
    void plainHttpOnTheAgentPortGetsAnErrorAndIsClosed() throws IOException {
        try (RawAgent agent = raw()) {
            agent.out.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            agent.out.flush();
            assertConnectionError(agent, "not a diglett peer");
        }
        assertLiveTunnelServes();
    }

    @Test
    void garbageAndTlsHelloAreRefused() throws IOException {
        byte[][] inputs = {
            {0x16, 0x03, 0x01, 0x00, (byte) 0xa5, 0x01, 0x00, 0x00},
            {0, 0, 0, 0, 0, 0, 0, 0, 0},
            {'d', 'i', 'g', 'X'},
        };
        for (byte[] input : inputs) {
            try (RawAgent agent = raw()) {
                agent.out.write(input);
                agent.out.flush();
                assertConnectionError(agent, "not a diglett peer");
            }
        }
        assertLiveTunnelServes();
    }

    @Test
    void theSeedsProtocolVersionIsToldWhichVersionWeSpeak() throws IOException {
        try (RawAgent agent = raw()) {
            agent.handshake(1);
            assertEquals(Protocol.VERSION, agent.readHandshake());
            RawFrame refusal = agent.read();
            assertEquals(FrameKind.REFUSE.code(), refusal.kind(), "a refusal: retrying will not help");
            assertEquals("unsupported protocol version 1; this gateway speaks versions 2 to 6: upgrade the agent",
                    refusal.text());
            assertTrue(agent.closedByPeer());
        }
        assertLiveTunnelServes();
    }

    /**
     * Compatibility: an agent of version 2 (which accepts only a handshake of 2 and parses Open's addresses as
     * "client server" text) is served in version 2, an agent of version 3 (binary address fields, a Login without
     * an instance id) in version 3, one of version 4 in version 4, of version 5 in version 5, and one of this version in its own. Each
     * registers a name, gets the Open
     * of a real public connection in its layout, byte for byte, and relays bytes both ways.
     */
    @Test
    void eachAgentVersionGetsOpenInItsOwnLayoutAndRelays() throws IOException {
        for (int version : new int[] {2, 3, 4, 5, Protocol.VERSION}) {
            String name = "layout-v" + version;
            try (RawAgent agent = raw().loggedIn(version)) {
                agent.send(FrameKind.REGISTER, 1, name);
                RawFrame registered = agent.read();
                assertEquals(FrameKind.OK.code(), registered.kind(), registered.text());
                int port = ((registered.payload()[0] & 0xFF) << 8) | (registered.payload()[1] & 0xFF);
                agent.send(FrameKind.FINISH_REGISTER, 0, new byte[0]);
                assertEquals(FrameKind.OK.code(), agent.read().kind());

                try (Socket client = TestServers.connect(port)) {
                    client.setSoTimeout(5_000);
                    assertEquals("127.0.0.1", client.getLocalAddress().getHostAddress());
                    RawFrame open = agent.readSkippingPings();
                    assertEquals(FrameKind.OPEN.code(), open.kind());
                    int stream = open.id();
                    String fields = String.format("00000001%08x", fixture.gateway.config().window());
                    if (version == 2) {
                        String text = "127.0.0.1:" + client.getLocalPort() + " 127.0.0.1:" + port;
                        assertEquals(fields + hex(text.getBytes(StandardCharsets.US_ASCII)), hex(open.payload()),
                                "version 2: registration, window, then the text a version-2 agent splits at ' '");
                    } else {
                        String addresses = String.format("047f000001%04x047f000001%04x", client.getLocalPort(), port);
                        assertEquals(fields + addresses, hex(open.payload()),
                                "version 3 and later: registration, window, family-address-port twice");
                    }

                    agent.send(FrameKind.OK, stream, new byte[] {0, 1, 0, 0}); // the agent's window: 65,536
                    client.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
                    RawFrame up = agent.readSkippingPings();
                    assertEquals(FrameKind.PAYLOAD.code(), up.kind());
                    assertEquals(stream, up.id());
                    assertEquals("hello", up.text());
                    agent.send(FrameKind.PAYLOAD, stream, "world");
                    assertEquals("world", new String(TestServers.readExactly(client.getInputStream(), 5),
                            StandardCharsets.US_ASCII));
                    agent.send(FrameKind.FIN, stream, new byte[0]);
                    assertEquals(-1, client.getInputStream().read(), "the agent's Fin ends the client's input");
                }
            }
        }
        assertLiveTunnelServes();
    }

    private static String hex(byte[] bytes) {
        return io.netty.buffer.ByteBufUtil.hexDump(bytes);
    }

    /**
     * A gateway of version 2 answers this agent's handshake with 2 and refuses it ("unsupported protocol version 5;
     * this gateway speaks version 2"): the agent stops, saying which side to upgrade.
     */
    @Test
    void anAgentOfThisVersionIsToldToUpgradeAVersion2Gateway() throws Exception {
        try (ServerSocket oldGateway = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Integer> offered = CompletableFuture.supplyAsync(() -> {
                try (Socket socket = oldGateway.accept()) {
                    DataInputStream in = new DataInputStream(socket.getInputStream());
                    assertEquals(Protocol.MAGIC, in.readInt());
                    int version = in.readUnsignedByte();
                    byte[] reason = ("unsupported protocol version " + version + "; this gateway speaks version 2")
                            .getBytes(StandardCharsets.UTF_8);
                    java.io.ByteArrayOutputStream answer = new java.io.ByteArrayOutputStream();
                    DataOutputStream out = new DataOutputStream(answer);
                    out.writeInt(Protocol.MAGIC);
                    out.writeByte(2);
                    out.writeByte(FrameKind.REFUSE.code());
                    out.writeInt(0);
                    out.writeShort(reason.length);
                    out.write(reason);
                    try {
                        socket.getOutputStream().write(answer.toByteArray());
                    } catch (java.net.SocketException closed) {
                        // the agent may stop at the handshake's version already and close before the Refuse
                    }
                    return version;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            Agent agent = fixture.agent(fixture.agentConfig("new-agent", echo.port())
                    .withGateway(new HostPort("127.0.0.1", oldGateway.getLocalPort())));
            ExecutionException failure = assertThrows(ExecutionException.class,
                    () -> agent.start().get(10, TimeUnit.SECONDS));
            assertInstanceOf(RejectedException.class, failure.getCause(), "rejected: the agent does not retry");
            assertEquals("the gateway speaks protocol version 2, older than this agent's version 6: upgrade the gateway"
                    + " to diglett-server " + Version.release() + " or later (or use an agent of the gateway's"
                    + " release)", failure.getCause().getMessage());
            assertEquals(Protocol.VERSION, offered.get(5, TimeUnit.SECONDS));
        }
    }

    @Test
    void framesOutOfOrderAreProtocolErrors() throws IOException {
        try (RawAgent agent = raw()) {
            agent.handshake(Protocol.VERSION).readHandshake();
            agent.send(FrameKind.REGISTER, 1, "early");
            assertConnectionError(agent, "unexpected REGISTER frame in phase LOGIN");
        }
        try (RawAgent agent = raw()) {
            agent.handshake(Protocol.VERSION).readHandshake();
            agent.send(FrameKind.PAYLOAD, 5, "data before login");
            assertConnectionError(agent, "unexpected PAYLOAD frame before registration finished");
        }
        try (RawAgent agent = raw().loggedIn()) {
            agent.send(FrameKind.LOGIN, 0, "again");
            assertConnectionError(agent, "unexpected LOGIN frame in phase REGISTER");
        }
        assertLiveTunnelServes();
    }

    @Test
    void oversizeAndUnknownFramesFailFromTheHeaderAlone() throws IOException {
        try (RawAgent agent = raw()) {
            agent.handshake(Protocol.VERSION).readHandshake();
            // header only: a Login claiming 60000 bytes; the gateway must not wait for (or buffer) them
            agent.out.write(new byte[] {(byte) FrameKind.LOGIN.code(), 0, 0, 0, 0, (byte) 0xea, 0x60});
            agent.out.flush();
            assertConnectionError(agent, "LOGIN frame with 60000 payload bytes, allowed 0..1024");
        }
        try (RawAgent agent = raw()) {
            agent.handshake(Protocol.VERSION).readHandshake();
            agent.out.write(new byte[] {0x42, 0, 0, 0, 0, 0, 0});
            agent.out.flush();
            assertConnectionError(agent, "unknown frame kind 0x42");
        }
        assertLiveTunnelServes();
    }

    @Test
    void invalidNamesAreRefusedAndTheAgentMayTryAnother() throws Exception {
        try (RawAgent agent = raw().loggedIn()) {
            for (String bad : new String[] {"Upper", "under_score", "-dash", "dash-", "a.b", "sp ace", "ümlaut"}) {
                agent.send(FrameKind.REGISTER, 7, bad);
                RawFrame reply = agent.read();
                assertEquals(FrameKind.ERROR.code(), reply.kind(), bad);
                assertEquals(7, reply.id());
                assertTrue(reply.text().startsWith("name '"), reply.text());
            }
            agent.send(FrameKind.REGISTER, 8, "good-name");
            RawFrame ok = agent.read();
            assertEquals(FrameKind.OK.code(), ok.kind(), ok.text());
            assertEquals(8, ok.id());
            int port = new DataInputStream(new java.io.ByteArrayInputStream(ok.payload())).readUnsignedShort();
            assertTrue(port > 0);
            agent.send(FrameKind.FINISH_REGISTER, 0, new byte[0]);
            assertEquals(FrameKind.OK.code(), agent.read().kind());
            assertEquals(port, fixture.gateway.publicPort("good-name").orElseThrow());
        }
        assertLiveTunnelServes();
    }

    @Test
    void aTakenNameIsRefusedWhileItsOwnerKeepsServing() throws Exception {
        Agent second = fixture.agent(fixture.agentConfig("live", echo.port()));
        ExecutionException failure = assertThrows(ExecutionException.class,
                () -> second.start().get(10, TimeUnit.SECONDS));
        assertInstanceOf(RejectedException.class, failure.getCause());
        assertEquals("name 'live' is already in use", failure.getCause().getMessage());
        assertLiveTunnelServes();
    }

    @Test
    void aTakenNameIsARequestErrorBetweenAgentsWithoutTokenAndARefusalForAnotherToken() throws Exception {
        // 'live' is held by an agent without a token: another one without a token may be that agent coming
        // back before the gateway saw its old link die, so only that registration is refused
        try (RawAgent agent = raw().loggedIn()) {
            agent.send(FrameKind.REGISTER, 1, "live");
            RawFrame error = agent.read();
            assertEquals(FrameKind.ERROR.code(), error.kind(), error.text());
            assertEquals(1, error.id());
            assertEquals("name 'live' is already in use", error.text());
            agent.send(FrameKind.REGISTER, 2, "not-live");
            assertEquals(FrameKind.OK.code(), agent.read().kind(), "the link goes on");
        }
        // a token is someone else for sure (the same token would take the name over): refused for good
        try (RawAgent agent = raw()) {
            agent.handshake(Protocol.VERSION).readHandshake();
            agent.send(FrameKind.LOGIN, 0, "somebody-else");
            assertEquals(FrameKind.OK.code(), agent.read().kind());
            agent.send(FrameKind.REGISTER, 1, "live");
            RawFrame refused = agent.read();
            assertEquals(FrameKind.REFUSE.code(), refused.kind(), refused.text());
            assertEquals(Protocol.CONNECTION_ID, refused.id());
            assertEquals("name 'live' is already in use", refused.text());
            assertTrue(agent.closedByPeer(), "the gateway closes the link");
        }
        assertLiveTunnelServes();
    }

    /** A raw agent with {@code name} live. */
    private RawAgent rawOnline(String name) throws IOException {
        RawAgent agent = raw().loggedIn();
        agent.send(FrameKind.REGISTER, 1, name);
        assertEquals(FrameKind.OK.code(), agent.read().kind());
        agent.send(FrameKind.FINISH_REGISTER, 0, new byte[0]);
        assertEquals(FrameKind.OK.code(), agent.read().kind());
        return agent;
    }

    private static void assertTerminate(RawAgent agent) throws IOException {
        RawFrame terminate = agent.read();
        assertEquals(FrameKind.TERMINATE.code(), terminate.kind(), "a Terminate, got kind " + terminate.kind());
        assertEquals("gateway shutting down", terminate.text());
    }

    @Test
    @SuppressWarnings("try") // the agent closes its link mid-test, as a real one does
    void aGatewayShuttingDownTellsTheAgentAndLeavesClosingTheLinkToIt() throws Exception {
        try (RawAgent agent = rawOnline("leaving-last")) {
            CompletableFuture<Void> closing = CompletableFuture.runAsync(fixture.gateway::close);
            assertTerminate(agent);
            // What the agent sends meanwhile is still read and answered: a gateway that closed the link right
            // after the Terminate would have it reset by the kernel (a close with unread input), which also
            // discards whatever the gateway had not sent yet, the Terminate itself included
            agent.send(FrameKind.PING, Protocol.CONNECTION_ID, new byte[8]);
            assertEquals(FrameKind.PONG.code(), agent.read().kind(), "the link is still open after the Terminate");
            agent.close(); // as a real agent does once its streams are done
            closing.get(5, TimeUnit.SECONDS); // well within the drain timeout (10 s): every agent closed its link
        }
    }

    @Test
    void anAgentThatDoesNotCloseAfterTerminateIsClosedAfterAGracePeriod() throws Exception {
        try (RawAgent agent = rawOnline("lingering")) {
            long start = System.nanoTime();
            CompletableFuture<Void> closing = CompletableFuture.runAsync(fixture.gateway::close);
            assertTerminate(agent);
            agent.socket.setSoTimeout(10_000);
            assertTrue(agent.closedByPeer(), "the gateway closes a link the agent keeps open");
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(millis >= GatewaySession.TERMINATE_GRACE.toMillis() && millis < 8_000,
                    "closed after " + millis + " ms, not before the grace period nor at the drain timeout");
            closing.get(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void anAgentThatLeavesFreesItsNameAndPort() throws Exception {
        Agent agent = fixture.agent(fixture.agentConfig("leaving", echo.port()));
        int port = agent.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
        try (Socket open = TestServers.connect(port)) {
            open.setSoTimeout(5_000);
            agent.close();
            assertEquals(-1, readOrReset(open), "the open client is cut when its agent leaves");
        }
        TunnelTests.waitFor(() -> fixture.gateway.publicPort("leaving").isEmpty(), "the name is released");
        TestServers.awaitClosed(port, "the public port is closed");
        assertTrue(fixture.expose("leaving", echo.port()) > 0, "the name can be registered again");
        assertLiveTunnelServes();
    }

    private static int readOrReset(Socket socket) throws IOException {
        try {
            return socket.getInputStream().read();
        } catch (java.net.SocketException reset) {
            return -1;
        }
    }

    @Test
    void halfOpenConnectionsDoNotDisturbTheTunnel() throws Exception {
        Socket[] idle = new Socket[20];
        try {
            for (int i = 0; i < idle.length; i++) {
                idle[i] = TestServers.connect(fixture.address.getPort());
                OutputStream out = idle[i].getOutputStream();
                out.write(new byte[] {'d', 'i'}); // a partial magic, then silence
                out.flush();
            }
            assertLiveTunnelServes();
        } finally {
            for (Socket socket : idle) {
                if (socket != null) {
                    socket.close();
                }
            }
        }
    }

    @Test
    void pingIsAnsweredWithTheSameBytesInAnyPhase() throws IOException {
        try (RawAgent agent = raw()) {
            agent.handshake(Protocol.VERSION).readHandshake();
            byte[] opaque = {1, 2, 3, 4, 5, 6, 7, 8};
            agent.send(FrameKind.PING, 0, opaque);
            RawFrame pong = agent.read();
            assertEquals(FrameKind.PONG.code(), pong.kind());
            assertArrayEquals(opaque, pong.payload());
        }
    }

    @Test
    void finishingWithoutANameIsAnError() throws IOException {
        try (RawAgent agent = raw().loggedIn()) {
            agent.send(FrameKind.FINISH_REGISTER, 0, new byte[0]);
            assertConnectionError(agent, "registration finished without any name registered");
        }
    }

    @Test
    void aPortRangeWithNoFreePortFailsTheConnectionClearlySoTheAgentTriesAgainLater() throws Exception {
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
             TunnelFixture ranged = new TunnelFixture(GatewayConfig.defaults().withTls(TlsSettings.plain())
                     .withPortRange(new PortRange(taken.getLocalPort(), taken.getLocalPort())));
             RawAgent agent = new RawAgent(ranged.address.getPort()).loggedIn()) {
            agent.send(FrameKind.REGISTER, 1, "ranged");
            assertConnectionError(agent, "cannot open a public port for 'ranged': no free port in range "
                    + taken.getLocalPort() + "-" + taken.getLocalPort());
            assertTrue(ranged.gateway.publicPort("ranged").isEmpty(), "the name is not held");
        }
    }

    @Test
    void streamsBeyondTheLimitAreRefusedWhileOthersKeepWorking() throws Exception {
        try (TunnelFixture limited = new TunnelFixture(GatewayConfig.defaults().withLimits(
                GatewayConfig.Limits.defaults().withMaxStreamsPerAgent(1)))) {
            int port = limited.expose("limited", echo.port());
            try (Socket first = TestServers.connect(port); Socket second = TestServers.connect(port)) {
                first.getOutputStream().write('1');
                assertEquals('1', first.getInputStream().read());
                second.setSoTimeout(5_000);
                assertEquals(-1, readOrReset(second), "the second stream is over the limit");
                first.getOutputStream().write('2');
                assertEquals('2', first.getInputStream().read());
            }
        }
    }

    @Test
    void aLoginBeyondMaxAgentsGetsARetryableErrorAtOnceAndTheRefusalLogged() throws Exception {
        LogCapture logs = LogCapture.start();
        try (TunnelFixture limited = new TunnelFixture(GatewayConfig.defaults().withTls(TlsSettings.plain())
                .withLimits(GatewayConfig.Limits.defaults().withMaxAgents(1)))) {
            int port = limited.expose("first", echo.port());
            try (RawAgent second = new RawAgent(limited.address.getPort())) {
                second.handshake(Protocol.VERSION);
                second.readHandshake();
                long start = System.nanoTime();
                second.send(FrameKind.LOGIN, 0, new byte[0]);
                assertConnectionError(second, "gateway full: 1 agents logged in, the limit");
                long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertTrue(millis < 2_000, "closed after " + millis + " ms: at once, not at the handshake timeout");
            }
            TunnelTests.waitFor(() -> logs.text().contains("refused at login: gateway full: 1 agents logged in"),
                    "the gateway logs the refusal");
            TunnelTests.waitFor(() -> limited.gateway.pendingLogins() == 0, "the refused link is given back");
            assertEquals(1, limited.gateway.metrics().handshakeFailures("max_agents"));
            try (Socket client = TestServers.connect(port)) {
                client.getOutputStream().write('a');
                assertEquals('a', client.getInputStream().read(), "the agent within the limit keeps serving");
            }
            assertEquals(1, limited.gateway.agents());
        } finally {
            logs.stop();
        }
    }

    @Test
    void moreNamesThanMaxNamesPerAgentAreRefusedAndTheAgentCommandExitsWith1() throws Exception {
        try (TunnelFixture limited = new TunnelFixture(GatewayConfig.defaults().withTls(TlsSettings.plain())
                .withLimits(GatewayConfig.Limits.defaults().withMaxNamesPerAgent(1)))) {
            String backend = "127.0.0.1:" + echo.port();
            LogCapture logs = LogCapture.start();
            CliRun.Result run;
            long start = System.nanoTime();
            try {
                run = CliRun.run(new AgentCommand(), Map.of(), "--plaintext", "--no-console",
                        "-g", "127.0.0.1:" + limited.address.getPort(), "-n", "one=" + backend, "-n", "two=" + backend);
            } finally {
                logs.stop();
            }
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertEquals(1, run.exitCode(), "exit code; the agent logged:\n" + logs.text());
            assertTrue(logs.text().contains("the gateway refused this agent: too many names on one agent (limit 1)"),
                    logs.text());
            assertTrue(millis < 10_000, "refused after " + millis + " ms: no retry");
            // the refusal may come before the first name's listener is bound: wait for the link's end, not its port
            TunnelTests.waitFor(() -> limited.gateway.agents() == 0, "the refused link is closed");
            TunnelTests.waitFor(() -> limited.gateway.publicPort("one").isEmpty(), "the first name is released");
            assertTrue(limited.gateway.publicPort("two").isEmpty());
        }
    }

    /** A failure without a message (an address that does not resolve, here) still gives the agent a reason. */
    @Test
    void aPublicPortThatCannotBeOpenedIsExplainedEvenWhenTheExceptionHasNoMessage() throws Exception {
        fixture.gateway.registrations().useBinder(
                (tunnel, loop) -> loop.newFailedFuture(new java.nio.channels.UnresolvedAddressException()));
        try (RawAgent agent = raw().loggedIn()) {
            agent.send(FrameKind.REGISTER, 1, "nowhere");
            assertConnectionError(agent, "cannot open a public port for 'nowhere': UnresolvedAddressException");
        }
        assertTrue(fixture.gateway.publicPort("nowhere").isEmpty(), "the name is not held");
        assertLiveTunnelServes();
    }

    @Test
    void aPeerThatFloodsPingsWithoutReadingIsCutOff() throws Exception {
        try (Socket flood = new Socket()) {
            flood.setReceiveBufferSize(4096);
            flood.connect(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(),
                    fixture.address.getPort()), 5_000);
            flood.setSoTimeout(20_000);
            java.io.DataOutputStream out = new java.io.DataOutputStream(
                    new java.io.BufferedOutputStream(flood.getOutputStream(), 1 << 16));
            out.writeInt(Protocol.MAGIC);
            out.writeByte(Protocol.VERSION);
            long sent = 0;
            try {
                for (; sent < 2_000_000; sent++) {
                    out.writeByte(FrameKind.PING.code());
                    out.writeInt(0);
                    out.writeShort(8);
                    out.writeLong(sent);
                }
                out.flush();
            } catch (IOException cutOff) {
                // the gateway closed the connection while we were still sending: what we want
            }
            long pongs = 0;
            try {
                java.io.InputStream in = flood.getInputStream();
                byte[] buf = new byte[1 << 16];
                for (int n; (n = in.read(buf)) >= 0; ) {
                    pongs += n;
                }
            } catch (java.net.SocketException reset) {
                // reset instead of a clean end: closed all the same
            }
            assertTrue(pongs / 15 < sent, "the gateway stopped answering: " + pongs / 15 + " pongs for " + sent + " pings");
        }
        assertLiveTunnelServes();
    }
}
