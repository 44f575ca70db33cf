package io.diglett.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameDecoder;
import io.diglett.protocol.FrameEncoder;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.HandshakeDecoder;
import io.diglett.protocol.Joining;
import io.diglett.protocol.Requests;
import io.diglett.common.HostPort;
import io.diglett.protocol.Protocol;
import io.diglett.common.Version;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.testing.Fuzzing;
import io.diglett.common.transport.Transport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The agent's handshake check: which gateway versions it accepts, and what it tells its user about the others. */
class AgentSessionTest {

    private static final AgentConfig CONFIG = AgentConfig.of(new HostPort("127.0.0.1", 20000), "", "name",
            new HostPort("127.0.0.1", 9), TrustSettings.plain()).withLinks(2);

    private final CompletableFuture<List<Registration>> online = new CompletableFuture<>();
    private final CompletableFuture<LinkEnd> ended = new CompletableFuture<>();
    private EmbeddedChannel link;
    private final AgentStatus status = new AgentStatus(CONFIG, Clock.systemUTC());
    private final java.util.UUID instance = java.util.UUID.randomUUID();

    @AfterEach
    void close() {
        link.finishAndReleaseAll();
    }

    private AgentSession session;

    /** A link to a gateway that answers with {@code bytes}, in one read; returns what the agent wrote. */
    private byte[] linkTo(byte[]... bytes) {
        return linkTo(null, bytes);
    }

    /** The name's spec on the next link ({@link #linkTo}). */
    private TunnelSpec spec = CONFIG.tunnels().get(0);

    /** A link that joins {@code join} ({@code null}: logs in) at a gateway answering {@code bytes}. */
    private byte[] linkTo(Joining.Session join, byte[]... bytes) {
        session = new AgentSession(CONFIG, Transport.NIO,
                List.of(new AgentSession.Target(1, spec,
                        new InetSocketAddress(InetAddress.getLoopbackAddress(), 9))),
                false, instance, join, status.link(1), online, ended, status,
                io.diglett.protocol.mux.FlowLimits.unbounded());
        link = new EmbeddedChannel(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline()
                        .addLast(HandlerNames.HANDSHAKE, new HandshakeDecoder())
                        .addLast(HandlerNames.FRAME_DECODER, new FrameDecoder())
                        .addLast(HandlerNames.FRAME_ENCODER, FrameEncoder.INSTANCE)
                        .addLast(HandlerNames.SESSION, session);
            }
        });
        link.writeInbound(Unpooled.wrappedBuffer(bytes));
        link.runPendingTasks();
        ByteArrayOutputStream written = new ByteArrayOutputStream();
        Object msg;
        while ((msg = link.readOutbound()) != null) {
            written.writeBytes(ByteBufUtil.getBytes((ByteBuf) msg));
            ReferenceCountUtil.release(msg);
        }
        return written.toByteArray();
    }

    /** The gateway's Ok to a version-5 Login: the session {@link #SESSION}. */
    private static byte[] loginOk() {
        Frame ok = SESSION.encode(ByteBufAllocator.DEFAULT, Protocol.VERSION);
        try {
            byte[] payload = ByteBufUtil.getBytes(ok.content());
            return Fuzzing.frame(FrameKind.OK, 0, payload);
        } finally {
            ok.release();
        }
    }

    /** The Ok to a version-5 Login (the same layout as version 6's). */
    private static byte[] loginOk5() {
        Frame ok = SESSION.encode(ByteBufAllocator.DEFAULT, 5);
        try {
            return Fuzzing.frame(FrameKind.OK, 0, ByteBufUtil.getBytes(ok.content()));
        } finally {
            ok.release();
        }
    }

    private static final Joining.Session SESSION = new Joining.Session(new java.util.UUID(1, 2),
            Joining.key(new byte[32], new java.util.UUID(1, 2)));

    private String rejection() {
        ExecutionException failure = assertThrows(ExecutionException.class, online::get);
        assertInstanceOf(RejectedException.class, failure.getCause());
        assertTrue(ended.join().rejected(), "rejected: the agent does not retry");
        assertTrue(!link.isOpen(), "the agent closed the link");
        return failure.getCause().getMessage();
    }

    @Test
    void aGatewayOfThisVersionGetsTheLogin() {
        byte[] written = linkTo(Fuzzing.handshake(Protocol.VERSION));
        assertEquals("6469676c06", ByteBufUtil.hexDump(written, 0, Protocol.HANDSHAKE_LENGTH), "the agent speaks 6");
        assertEquals(FrameKind.LOGIN.code(), written[Protocol.HANDSHAKE_LENGTH], "then logs in");
        assertTrue(!online.isDone() && link.isOpen());
    }

    /** A gateway older than a registration option (raw=on) refuses the name: the agent says what to upgrade. */
    @Test
    void aGatewayThatDoesNotKnowARegistrationFlagIsNamedForUpgrade() {
        linkTo(Fuzzing.handshake(Protocol.VERSION), loginOk(),
                Fuzzing.text(FrameKind.ERROR, 1, "unknown registration flags 0x2 (this gateway knows 0x1)"));
        String message = rejection();
        assertTrue(message.contains("unknown registration flags 0x2 (this gateway knows 0x1); the gateway is older"
                + " than this agent: upgrade it to " + io.diglett.common.Version.release()
                + " or later, or leave out raw=on (--raw-port)"), message);
    }

    /** A name with a visitor policy goes first as a Policy frame, then its Register (version 6). */
    @Test
    void aPolicyPrecedesItsRegister() {
        spec = spec.withPolicy(io.diglett.protocol.Policy.parse("allow-cidr 10.0.0.0/8\n"));
        byte[] written = linkTo(Fuzzing.handshake(Protocol.VERSION), loginOk());
        String hex = ByteBufUtil.hexDump(written);
        String policy = "12" + "00000001" + "0016" + ByteBufUtil.hexDump("allow-cidr 10.0.0.0/8\n".getBytes(
                java.nio.charset.StandardCharsets.US_ASCII));
        int at = hex.indexOf(policy);
        assertTrue(at > 0, "a Policy frame for registration 1: " + hex);
        assertTrue(hex.indexOf("02" + "00000001", at) > at, "then its Register");
    }

    /** A gateway before version 6 cannot enforce a policy: the agent stops rather than expose the name without it. */
    @Test
    void aPolicyIsNeverDroppedForAnOlderGateway() {
        spec = spec.withPolicy(io.diglett.protocol.Policy.parse("rate-limit 5\n"));
        linkTo(Fuzzing.handshake(5), loginOk5());
        String message = rejection();
        assertTrue(message.startsWith("'name' has a visitor policy (--allow-cidr, --deny-cidr, --rate-limit,"
                + " --request-header, ...), which this gateway (protocol version 5) cannot enforce: upgrade it"),
                message);
    }

    /** Version 6: a Notice on the name's certificate reaches the status, escaped; the link stays up. */
    @Test
    void aNoticeOnTheCertificateReachesTheStatus() {
        linkTo(Fuzzing.handshake(Protocol.VERSION), loginOk(),
                Fuzzing.frame(FrameKind.OK, 1, new byte[] {(byte) 0x82, 0x35}),
                Fuzzing.frame(FrameKind.OK, 0, new byte[0]),
                Fuzzing.frame(FrameKind.NOTICE, 1, "\u0001valid until 2027\u001b[2J".getBytes(
                        java.nio.charset.StandardCharsets.UTF_8)),
                Fuzzing.frame(FrameKind.NOTICE, 1, "\u0009a topic of a newer gateway".getBytes(
                        java.nio.charset.StandardCharsets.UTF_8)));
        assertTrue(online.isDone() && !online.isCompletedExceptionally(), "it came online");
        assertTrue(link.isOpen() && !ended.isDone(), "the link stays up");
        assertEquals("valid until 2027\\u001b[2J", status.tunnels().get(0).certificate());
    }

    /** A Notice on a version-5 link (a gateway that has none) or for no registration of ours is a protocol error. */
    @Test
    void aNoticeOnAVersion5LinkIsAProtocolError() {
        linkTo(Fuzzing.handshake(5), loginOk5(),
                Fuzzing.frame(FrameKind.OK, 1, new byte[] {(byte) 0x82, 0x35}),
                Fuzzing.frame(FrameKind.OK, 0, new byte[0]),
                Fuzzing.frame(FrameKind.NOTICE, 1, new byte[] {1, 'x'}));
        assertTrue(!link.isOpen(), "the agent closed the link");
        assertEquals(null, status.tunnels().get(0).certificate());
    }

    /**
     * Version 4: the Login carries this agent's instance id; once active, an Error for a registration is the gateway
     * withdrawing that name (another link of our token took it): the link stays up, the name is shown as gone, and
     * the reason arrives escaped.
     */
    @Test
    void aWithdrawnNameLeavesTheLinkUp() {
        byte[] written = linkTo(Fuzzing.handshake(Protocol.VERSION), loginOk(),
                Fuzzing.frame(FrameKind.OK, 1, new byte[] {(byte) 0x82, 0x35}),
                Fuzzing.frame(FrameKind.OK, 0, new byte[0]),
                Fuzzing.text(FrameKind.ERROR, 1, "name 'name' was taken over\r\nforged line"));
        String login = ByteBufUtil.hexDump(written, Protocol.HANDSHAKE_LENGTH, Protocol.HEADER_LENGTH + 17);
        assertEquals("07000000000011" + "00" + instance.toString().replace("-", ""), login,
                "Login: an empty token, then 0x00 and the instance id");
        assertTrue(online.isDone() && !online.isCompletedExceptionally(), "it came online");
        assertTrue(link.isOpen() && !ended.isDone(), "the link stays up");
        assertEquals(null, status.tunnels().get(0).registration(), "the name is no longer shown as registered");
        assertEquals("name 'name' was taken over\\u000d\\u000aforged line", status.lastError());
    }

    /** A version-2 gateway answers with 2 and refuses: the agent says to upgrade the gateway, and to which release. */
    @Test
    void aVersion2GatewayIsReportedAsTheOneToUpgrade() {
        byte[] refusal = "unsupported protocol version 5; this gateway speaks version 2"
                .getBytes(StandardCharsets.UTF_8);
        byte[] written = linkTo(Fuzzing.handshake(2), Fuzzing.frame(FrameKind.REFUSE, 0, refusal));
        assertEquals("the gateway speaks protocol version 2, older than this agent's version 6: upgrade the gateway"
                + " to diglett-server " + Version.release() + " or later (or use an agent of the gateway's release)",
                rejection());
        assertEquals(Protocol.HANDSHAKE_LENGTH, written.length, "no Login to a gateway of another version");
    }

    /** A gateway newer than this agent answers with its own version only when it no longer serves ours. */
    @Test
    void aNewerGatewayThatNoLongerServesThisVersionAsksForAnUpgradedAgent() {
        linkTo(Fuzzing.handshake(Protocol.VERSION + 1));
        assertEquals("the gateway speaks protocol version 7 and no longer serves this agent's version 6: upgrade this"
                + " agent, diglett " + Version.release() + ", to the gateway's release", rejection());
    }

    /** Version 5: the Ok to Login names the session, which the agent keeps for its other links. */
    @Test
    void aVersion5LoginKeepsTheSessionForTheOtherLinks() {
        linkTo(Fuzzing.handshake(Protocol.VERSION), loginOk(),
                Fuzzing.frame(FrameKind.OK, 1, new byte[] {(byte) 0x82, 0x35}),
                Fuzzing.frame(FrameKind.OK, 0, new byte[0]));
        assertTrue(online.isDone() && !online.isCompletedExceptionally(), "it came online");
        assertEquals(SESSION, session.session());
        assertEquals(1, session.linkNumber(), "the link that logs in is link 1");
    }

    /** A version-4 gateway answers 4: the agent logs in as a version-4 agent (no session: one link). */
    @Test
    void aVersion4GatewayIsServedInVersion4WithoutASession() {
        byte[] written = linkTo(Fuzzing.handshake(4), Fuzzing.frame(FrameKind.OK, 0, new byte[0]),
                Fuzzing.frame(FrameKind.OK, 1, new byte[] {(byte) 0x82, 0x35}),
                Fuzzing.frame(FrameKind.OK, 0, new byte[0]));
        assertEquals(FrameKind.LOGIN.code(), written[Protocol.HANDSHAKE_LENGTH], "it logs in");
        assertTrue(online.isDone() && !online.isCompletedExceptionally(), "it came online");
        assertEquals(4, session.protocolVersion());
        assertEquals(null, session.session(), "no session to join");
    }

    /**
     * A further link joins the session: Join with its id, the proof of the gateway's challenge, active on the Ok,
     * and then it takes Opens for a registration that the link that logged in registered.
     */
    @Test
    void aJoiningLinkProvesTheSessionAndTakesOpensForNamesItNeverRegistered() {
        byte[] challenge = new byte[16];
        challenge[0] = 7;
        byte[] written = linkTo(SESSION, Fuzzing.handshake(Protocol.VERSION),
                Fuzzing.frame(FrameKind.CHALLENGE, 0, challenge),
                Fuzzing.frame(FrameKind.OK, 0, new byte[] {0, 0, 0, 2}));
        int at = Protocol.HANDSHAKE_LENGTH;
        assertEquals(FrameKind.JOIN.code(), written[at], "Join instead of Login");
        assertEquals("00000000000000010000000000000002",
                ByteBufUtil.hexDump(written, at + Protocol.HEADER_LENGTH, 16), "the session's id");
        at += Protocol.HEADER_LENGTH + 16;
        assertEquals(FrameKind.PROOF.code(), written[at]);
        byte[] mac = java.util.Arrays.copyOfRange(written, at + Protocol.HEADER_LENGTH, at + Protocol.HEADER_LENGTH + 32);
        assertTrue(new Joining.Proof(mac).proves(SESSION.key(), SESSION.id(), new Joining.Challenge(challenge)),
                "the proof answers this challenge with the session's key");
        assertTrue(online.isDone() && online.join().isEmpty(), "online, with no name registered on this link");
        assertEquals(2, session.linkNumber());

        Frame open = Requests.Open.of(1, 262_144, null, null).encode(ByteBufAllocator.DEFAULT, 9, Protocol.VERSION);
        byte[] payload;
        try {
            payload = ByteBufUtil.getBytes(open.content());
        } finally {
            open.release();
        }
        link.writeInbound(Unpooled.wrappedBuffer(Fuzzing.frame(FrameKind.OPEN, 9, payload)));
        link.runPendingTasks();
        assertTrue(link.isOpen(), "an Open for registration 1 is no protocol error on a joined link");
        assertEquals(1, status.tunnels().get(0).connections(), "it became a stream of that name");
    }

    /** Streams are counted per link as well as per name. */
    @Test
    void streamsAreCountedPerLink() {
        io.diglett.protocol.mux.StreamObserver observer = status.newStream("name", "1.2.3.4:5", status.link(2));
        assertEquals(1, status.link(2).open());
        assertEquals(0, status.link(1).open());
        observer.closed(true, "done");
        assertEquals(0, status.link(2).open());
        linkTo(Fuzzing.handshake(Protocol.VERSION)); // for the AfterEach
    }

    /** The gateway knows no such session: the agent forgets it (and logs in again), without stopping. */
    @Test
    void aJoinRefusedForAnUnknownSessionIsNotARejection() {
        linkTo(SESSION, Fuzzing.handshake(Protocol.VERSION), Fuzzing.frame(FrameKind.CHALLENGE, 0, new byte[16]),
                Fuzzing.text(FrameKind.REFUSE, 0, "cannot join: unknown session or wrong proof"));
        LinkEnd end = ended.join();
        assertTrue(!end.rejected(), "not a rejection: the agent goes on");
        assertEquals(LinkEnd.Join.SESSION_GONE, end.join());
    }

    /** The gateway refuses one more link (its limit): that link is given up, the agent goes on. */
    @Test
    void aJoinRefusedOverTheLinkLimitGivesThatLinkUp() {
        linkTo(SESSION, Fuzzing.handshake(Protocol.VERSION), Fuzzing.frame(FrameKind.CHALLENGE, 0, new byte[16]),
                Fuzzing.text(FrameKind.REFUSE, 0,
                        "cannot join: the session has 16 links, this gateway's limit (--max-links-per-agent)"));
        LinkEnd end = ended.join();
        assertTrue(!end.rejected());
        assertEquals(LinkEnd.Join.REFUSED, end.join());
    }
}
