package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Joining;
import io.diglett.protocol.Protocol;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.TlsSettings;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Several links in one agent session (protocol version 5, docs/protocol.md section 5.1), over real sockets, with a
 * hand-driven agent: a link joins with a proof and no second registration, public connections are spread over the
 * links, losing a link resets only its streams while the name stays, the session ends with its last link, and
 * joins that do not prove the session's key, replay a proof or exceed the link limit are refused.
 */
@Timeout(60)
class JoinTests {

    private static TunnelFixture gateway(int maxLinks) throws Exception {
        GatewayConfig config = GatewayConfig.defaults().withTls(TlsSettings.plain());
        return new TunnelFixture(config.withLimits(config.limits().withMaxLinksPerAgent(maxLinks)));
    }

    /** Reads frames from {@code link} until an Open, answering Pings; returns the Open. */
    private static RawAgent.RawFrame nextOpen(RawAgent link) throws IOException {
        RawAgent.RawFrame frame = link.readSkippingKeepalive();
        assertEquals(FrameKind.OPEN.code(), frame.kind(), "expected an Open, got kind " + frame.kind());
        return frame;
    }

    private static int registrationOf(RawAgent.RawFrame open) {
        return java.nio.ByteBuffer.wrap(open.payload()).getInt(0);
    }

    /** Accepts the stream: Ok with a window of 256 KiB. */
    private static void accept(RawAgent link, int stream) throws IOException {
        link.send(FrameKind.OK, stream, java.nio.ByteBuffer.allocate(4).putInt(256 * 1024).array());
    }

    @Test
    @SuppressWarnings("try")
    void aLinkJoinsWithoutASecondRegistrationAndTakesHalfTheConnections() throws Exception {
        try (TunnelFixture fixture = gateway(16);
             RawAgent first = new RawAgent(fixture.address.getPort()).loggedIn()) {
            assertNotNull(first.session, "a version-5 Login is answered with the session");
            int port = first.register(1, "web");
            first.finish();
            try (RawAgent second = new RawAgent(fixture.address.getPort())) {
                assertEquals(2, second.joined(first.session), "the login's link is 1, the first to join is 2");
                List<Socket> clients = new ArrayList<>();
                try {
                    for (int i = 0; i < 8; i++) {
                        clients.add(TestServers.connect(port));
                    }
                    for (int i = 0; i < 4; i++) {
                        assertEquals(1, registrationOf(nextOpen(first)));
                        assertEquals(1, registrationOf(nextOpen(second)),
                                "the joined link carries the name it never registered");
                    }
                } finally {
                    for (Socket client : clients) {
                        client.close();
                    }
                }
                assertEquals(port, fixture.gateway.publicPort("web").orElse(-1), "one name, one port");
            }
        }
    }

    @Test
    @SuppressWarnings("try") // a link is closed inside its try: that is the test
    void losingALinkResetsOnlyItsStreamsAndTheNameStaysOnTheOthers() throws Exception {
        try (TunnelFixture fixture = gateway(16);
             RawAgent first = new RawAgent(fixture.address.getPort()).loggedIn()) {
            int port = first.register(1, "web");
            first.finish();
            try (RawAgent second = new RawAgent(fixture.address.getPort());
                 Socket onFirst = TestServers.connect(port)) {
                second.joined(first.session);
                int firstStream = nextOpen(first).id();
                try (Socket onSecond = TestServers.connect(port)) {
                    int secondStream = nextOpen(second).id();
                    accept(first, firstStream);
                    accept(second, secondStream);

                    first.close(); // the link the agent logged in and registered on
                    onFirst.setSoTimeout(5_000);
                    assertTrue(endsOrResets(onFirst.getInputStream()), "the lost link's client is cut");

                    second.send(FrameKind.PAYLOAD, secondStream, "still here".getBytes(StandardCharsets.US_ASCII));
                    assertEquals("still here", readText(onSecond, 10), "the other link's stream goes on");
                    OutputStream out = onSecond.getOutputStream();
                    out.write("ping".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    RawAgent.RawFrame data = second.readSkippingKeepalive();
                    assertEquals(FrameKind.PAYLOAD.code(), data.kind());
                    assertEquals("ping", data.text());

                    try (Socket later = TestServers.connect(port)) {
                        assertEquals(1, registrationOf(nextOpen(second)),
                                "the name stays: a new client comes in on the remaining link");
                    }
                    assertEquals(port, fixture.gateway.publicPort("web").orElse(-1));
                }
            }
            awaitGone(fixture, "web");
            assertTrue(fixture.gateway.publicPort("web").isEmpty(), "the session ends with its last link");
        }
    }

    @Test
    @SuppressWarnings("try")
    void joinsThatDoNotProveTheSessionsKeyAreRefused() throws Exception {
        try (TunnelFixture fixture = gateway(16);
             RawAgent first = new RawAgent(fixture.address.getPort()).loggedIn()) {
            first.register(1, "web");
            first.finish();
            Joining.Session session = first.session;
            String refusal = "cannot join: unknown session or wrong proof";

            try (RawAgent guess = new RawAgent(fixture.address.getPort())) {
                RawAgent.RawFrame answer = guess.join(session.id(), c -> new Joining.Proof(new byte[32]));
                assertRefused(answer, refusal);
                assertTrue(guess.closedByPeer());
            }
            try (RawAgent unknown = new RawAgent(fixture.address.getPort())) {
                Joining.Session other = new Joining.Session(Joining.newSessionId(), session.key());
                assertRefused(unknown.join(other.id(), c -> Joining.Proof.of(other, c)), refusal);
            }
            // a proof recorded from one join does not answer another join's challenge
            Joining.Proof[] recorded = new Joining.Proof[1];
            try (RawAgent honest = new RawAgent(fixture.address.getPort())) {
                RawAgent.RawFrame ok = honest.join(session.id(), c -> recorded[0] = Joining.Proof.of(session, c));
                assertEquals(FrameKind.OK.code(), ok.kind());
            }
            try (RawAgent replay = new RawAgent(fixture.address.getPort())) {
                assertRefused(replay.join(session.id(), c -> recorded[0]), refusal);
            }
            // a version-4 link knows no Join
            try (RawAgent old = new RawAgent(fixture.address.getPort())) {
                old.handshake(4);
                assertEquals(4, old.readHandshake());
                old.send(FrameKind.JOIN, 0, new byte[16]);
                RawAgent.RawFrame error = old.read();
                assertEquals(FrameKind.ERROR.code(), error.kind());
                assertEquals("unexpected JOIN frame in phase LOGIN", error.text());
            }
            // a Proof without a Join
            try (RawAgent early = new RawAgent(fixture.address.getPort())) {
                early.handshake(Protocol.VERSION);
                early.readHandshake();
                early.send(FrameKind.PROOF, 0, new byte[32]);
                RawAgent.RawFrame error = early.read();
                assertEquals("unexpected PROOF frame in phase LOGIN", error.text());
            }
            // the agent's own link still serves
            try (Socket client = TestServers.connect(fixture.gateway.publicPort("web").orElseThrow())) {
                assertEquals(1, registrationOf(nextOpen(first)));
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void aSessionTakesNoMoreLinksThanTheLimit() throws Exception {
        try (TunnelFixture fixture = gateway(2);
             RawAgent first = new RawAgent(fixture.address.getPort()).loggedIn();
             RawAgent second = new RawAgent(fixture.address.getPort());
             RawAgent third = new RawAgent(fixture.address.getPort())) {
            first.register(1, "web");
            first.finish();
            second.joined(first.session);
            RawAgent.RawFrame answer = third.join(first.session.id(), c -> Joining.Proof.of(first.session, c));
            assertRefused(answer, "cannot join: the session has 2 links, this gateway's limit (--max-links-per-agent)");
            second.close();
            try (RawAgent again = new RawAgent(fixture.address.getPort())) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                RawAgent.RawFrame retry;
                RawAgent attempt = again;
                while (true) {
                    retry = attempt.join(first.session.id(), c -> Joining.Proof.of(first.session, c));
                    if (retry.kind() == FrameKind.OK.code() || System.nanoTime() > deadline) {
                        break;
                    }
                    attempt.close(); // the closed link is not gone from the session yet: try on a new connection
                    attempt = new RawAgent(fixture.address.getPort());
                }
                try {
                    assertEquals(FrameKind.OK.code(), retry.kind(), "a closed link gives its place back");
                } finally {
                    attempt.close();
                }
            }
        }
    }

    @Test
    void aJoinBeforeTheNamesAreLiveIsRefused() throws Exception {
        try (TunnelFixture fixture = gateway(16);
             RawAgent first = new RawAgent(fixture.address.getPort()).loggedIn();
             RawAgent second = new RawAgent(fixture.address.getPort())) {
            first.register(1, "web"); // no FinishRegister
            assertRefused(second.join(first.session.id(), c -> Joining.Proof.of(first.session, c)),
                    "cannot join: the session is still registering its names");
        }
    }

    @Test
    @SuppressWarnings("try")
    void aVersion4AgentLogsInAsBeforeWithoutASessionAndIsServed() throws Exception {
        try (TunnelFixture fixture = gateway(16);
             RawAgent old = new RawAgent(fixture.address.getPort()).loggedIn(4)) {
            assertNull(old.session, "the Ok to a version-4 Login is empty, as a version-4 gateway's");
            int port = old.register(1, "old");
            old.finish();
            try (Socket client = TestServers.connect(port)) {
                assertEquals(1, registrationOf(nextOpen(old)));
            }
        }
    }

    /** Allows every name until {@link #withdraw}; announces the change to the gateway only when asked to. */
    private static final class Withdrawing implements io.diglett.server.auth.Authenticator {
        private volatile boolean allowed = true;
        private volatile boolean temporary;
        private volatile Runnable listener = () -> { };

        @Override
        public String authenticate(String token) {
            return "alice";
        }

        @Override
        public void authorize(String principal, String name) throws io.diglett.server.auth.AccessDeniedException {
            if (!allowed) {
                throw temporary
                        ? new io.diglett.server.auth.AccessDeniedException("the user directory is unreachable", true)
                        : new io.diglett.server.auth.AccessDeniedException("alice's names were taken away");
            }
        }

        @Override
        public void onChange(Runnable changed) {
            listener = changed;
        }

        /** The authenticator cannot decide for a while (its directory is down), or decides again. */
        void unsure(boolean unsure) {
            temporary = unsure;
            allowed = !unsure;
        }

        void withdraw(boolean announce) {
            allowed = false;
            if (announce) {
                listener.run();
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void aSessionBeingRefusedTakesNoJoinWhileItsLinksClose() throws Exception {
        Withdrawing auth = new Withdrawing();
        GatewayConfig config = GatewayConfig.defaults().withTls(TlsSettings.plain());
        try (TunnelFixture fixture = new TunnelFixture(config, auth);
             RawAgent first = new RawAgent(fixture.address.getPort()).loggedIn();
             RawAgent late = new RawAgent(fixture.address.getPort())) {
            int port = first.register(1, "web");
            first.finish();
            try (Socket client = TestServers.connect(port)) {
                // the agent stops reading: a stream with a large window fills the link, so the session's Refuse
                // cannot be written and the link stays open for its grace period
                first.send(FrameKind.OK, nextOpen(first).id(),
                        java.nio.ByteBuffer.allocate(4).putInt(64 << 20).array());
                java.util.concurrent.atomic.AtomicLong written = new java.util.concurrent.atomic.AtomicLong();
                Thread writer = new Thread(() -> {
                    byte[] chunk = new byte[64 * 1024];
                    try {
                        OutputStream out = client.getOutputStream();
                        while (true) {
                            out.write(chunk);
                            written.addAndGet(chunk.length);
                        }
                    } catch (IOException ended) {
                        // the gateway cut the client: the test is over
                    }
                });
                writer.setDaemon(true);
                writer.start();
                awaitStalled(written);

                auth.withdraw(true);
                RawAgent.RawFrame answer = late.join(first.session.id(), c -> Joining.Proof.of(first.session, c));
                assertRefused(answer, "cannot join: unknown session or wrong proof");
                assertTrue(fixture.gateway.publicPort("web").isPresent(),
                        "the join came while the refused session's link was still open (its name still held)");

                awaitGone(fixture, "web");
                assertTrue(fixture.gateway.publicPort("web").isEmpty(), "the refused session's name is gone");
                client.close();
                writer.join(10_000);
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void aJoinAuthorizesTheSessionsNamesAgain() throws Exception {
        Withdrawing auth = new Withdrawing();
        GatewayConfig config = GatewayConfig.defaults().withTls(TlsSettings.plain());
        try (TunnelFixture fixture = new TunnelFixture(config, auth);
             RawAgent first = new RawAgent(fixture.address.getPort()).loggedIn();
             RawAgent second = new RawAgent(fixture.address.getPort())) {
            first.register(1, "web");
            first.finish();
            auth.withdraw(false); // an authenticator that does not tell the gateway when its decisions change
            String withdrawn = "authorization for 'web' withdrawn: alice's names were taken away";
            assertRefused(second.join(first.session.id(), c -> Joining.Proof.of(first.session, c)),
                    "cannot join: " + withdrawn);
            assertRefused(first.readSkippingKeepalive(), withdrawn);
            assertTrue(first.closedByPeer(), "the session ends: its names are no longer allowed");
        }
    }

    @Test
    @SuppressWarnings("try")
    void aJoinTheAuthenticatorCannotDecideNowFailsThatLinkOnlyAndTheSessionServesOn() throws Exception {
        Withdrawing auth = new Withdrawing();
        GatewayConfig config = GatewayConfig.defaults().withTls(TlsSettings.plain());
        try (TunnelFixture fixture = new TunnelFixture(config, auth);
             RawAgent first = new RawAgent(fixture.address.getPort()).loggedIn()) {
            int port = first.register(1, "web");
            first.finish();
            auth.unsure(true);
            try (RawAgent second = new RawAgent(fixture.address.getPort())) {
                RawAgent.RawFrame answer = second.join(first.session.id(), c -> Joining.Proof.of(first.session, c));
                assertEquals(FrameKind.ERROR.code(), answer.kind(), "not a Refuse: the agent tries this link again");
                assertEquals("cannot join now: authorization for 'web' withdrawn: the user directory is unreachable",
                        answer.text());
                assertTrue(second.closedByPeer());
            }
            try (Socket client = TestServers.connect(port)) {
                assertEquals(1, registrationOf(nextOpen(first)), "the session and its name stay");
            }
            auth.unsure(false);
            try (RawAgent again = new RawAgent(fixture.address.getPort())) {
                assertEquals(2, again.joined(first.session), "once the authenticator decides, the link joins");
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void aSessionHoldsItsAgentPlaceUntilItsLastLinkClosesWhicheverLoggedIn() throws Exception {
        GatewayConfig config = GatewayConfig.defaults().withTls(TlsSettings.plain());
        try (TunnelFixture fixture = new TunnelFixture(config.withLimits(config.limits().withMaxAgents(1)));
             RawAgent first = new RawAgent(fixture.address.getPort()).loggedIn()) {
            first.register(1, "web");
            first.finish();
            try (RawAgent second = new RawAgent(fixture.address.getPort())) {
                second.joined(first.session);
                first.close(); // the link that logged in goes; the joined one keeps the session
                io.diglett.server.link.Tunnel tunnel =
                        fixture.gateway.registrations().names().lookup("web").orElseThrow();
                TunnelTests.waitFor(() -> tunnel.links().size() == 1, "the gateway saw the first link close");
                try (RawAgent other = new RawAgent(fixture.address.getPort())) {
                    other.handshake(Protocol.VERSION);
                    other.readHandshake();
                    other.send(FrameKind.LOGIN, 0, new byte[0]);
                    RawAgent.RawFrame full = other.read();
                    assertEquals(FrameKind.ERROR.code(), full.kind(), "the session still holds the only place");
                    assertEquals("gateway full: 1 agents logged in, the limit", full.text());
                }
                assertEquals(1, fixture.gateway.agents());
            }
            TunnelTests.waitFor(() -> fixture.gateway.agents() == 0, "the last link's close frees the place");
            try (RawAgent later = new RawAgent(fixture.address.getPort()).loggedIn()) {
                assertNotNull(later.session, "a new agent takes the place");
            }
        }
    }

    /** Waits (10 s at most) until {@code name} has no public port: its session ended. */
    private static void awaitGone(TunnelFixture fixture, String name) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (fixture.gateway.publicPort(name).isPresent() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
    }

    /** Waits until the writer has written something and then made no progress for a while: the path is full. */
    private static void awaitStalled(java.util.concurrent.atomic.AtomicLong written) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        long last = -1;
        int still = 0;
        while (still < 5) {
            assertTrue(System.nanoTime() < deadline, "the public client never filled the link");
            long now = written.get();
            still = now > 0 && now == last ? still + 1 : 0;
            last = now;
            Thread.sleep(100);
        }
    }

    private static void assertRefused(RawAgent.RawFrame answer, String reason) {
        assertEquals(FrameKind.REFUSE.code(), answer.kind(), "expected a Refuse, got kind " + answer.kind()
                + ": " + answer.text());
        assertEquals(reason, answer.text());
    }

    private static boolean endsOrResets(InputStream in) throws IOException {
        try {
            return in.read() < 0;
        } catch (java.net.SocketException e) {
            return true; // reset
        }
    }

    private static String readText(Socket socket, int length) throws IOException {
        socket.setSoTimeout(5_000);
        byte[] bytes = socket.getInputStream().readNBytes(length);
        return new String(bytes, StandardCharsets.US_ASCII);
    }
}
