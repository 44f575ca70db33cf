package io.diglett.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.FrameDecoder;
import io.diglett.protocol.FrameEncoder;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.HandshakeDecoder;
import io.diglett.common.HostPort;
import io.diglett.protocol.Protocol;
import io.diglett.common.Version;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.testing.Fuzzing;
import io.diglett.common.transport.Transport;
import io.netty.buffer.ByteBuf;
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
            new HostPort("127.0.0.1", 9), TrustSettings.plain());

    private final CompletableFuture<List<Registration>> online = new CompletableFuture<>();
    private final CompletableFuture<LinkEnd> ended = new CompletableFuture<>();
    private EmbeddedChannel link;
    private final AgentStatus status = new AgentStatus(CONFIG, Clock.systemUTC());
    private final java.util.UUID instance = java.util.UUID.randomUUID();

    @AfterEach
    void close() {
        link.finishAndReleaseAll();
    }

    /** A link to a gateway that answers with {@code bytes}, in one read; returns what the agent wrote. */
    private byte[] linkTo(byte[]... bytes) {
        AgentSession session = new AgentSession(CONFIG, Transport.NIO,
                List.of(new AgentSession.Target(1, CONFIG.tunnels().get(0),
                        new InetSocketAddress(InetAddress.getLoopbackAddress(), 9))),
                false, instance, online, ended, status, io.diglett.protocol.mux.FlowLimits.unbounded());
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
        assertEquals("6469676c04", ByteBufUtil.hexDump(written, 0, Protocol.HANDSHAKE_LENGTH), "the agent speaks 4");
        assertEquals(FrameKind.LOGIN.code(), written[Protocol.HANDSHAKE_LENGTH], "then logs in");
        assertTrue(!online.isDone() && link.isOpen());
    }

    /** A gateway older than a registration option (raw=on) refuses the name: the agent says what to upgrade. */
    @Test
    void aGatewayThatDoesNotKnowARegistrationFlagIsNamedForUpgrade() {
        linkTo(Fuzzing.handshake(Protocol.VERSION), Fuzzing.frame(FrameKind.OK, 0, new byte[0]),
                Fuzzing.text(FrameKind.ERROR, 1, "unknown registration flags 0x2 (this gateway knows 0x1)"));
        String message = rejection();
        assertTrue(message.contains("unknown registration flags 0x2 (this gateway knows 0x1); the gateway is older"
                + " than this agent: upgrade it to " + io.diglett.common.Version.release()
                + " or later, or leave out raw=on (--raw-port)"), message);
    }

    /**
     * Version 4: the Login carries this agent's instance id; once active, an Error for a registration is the gateway
     * withdrawing that name (another link of our token took it): the link stays up, the name is shown as gone, and
     * the reason arrives escaped.
     */
    @Test
    void aWithdrawnNameLeavesTheLinkUp() {
        byte[] written = linkTo(Fuzzing.handshake(Protocol.VERSION), Fuzzing.frame(FrameKind.OK, 0, new byte[0]),
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
        byte[] refusal = "unsupported protocol version 4; this gateway speaks version 2"
                .getBytes(StandardCharsets.UTF_8);
        byte[] written = linkTo(Fuzzing.handshake(2), Fuzzing.frame(FrameKind.REFUSE, 0, refusal));
        assertEquals("the gateway speaks protocol version 2, older than this agent's version 4: upgrade the gateway"
                + " to diglett-server " + Version.release() + " or later (or use an agent of the gateway's release)",
                rejection());
        assertEquals(Protocol.HANDSHAKE_LENGTH, written.length, "no Login to a gateway of another version");
    }

    /** A gateway newer than this agent answers with its own version only when it no longer serves ours. */
    @Test
    void aNewerGatewayThatNoLongerServesThisVersionAsksForAnUpgradedAgent() {
        linkTo(Fuzzing.handshake(Protocol.VERSION + 1));
        assertEquals("the gateway speaks protocol version 5 and no longer serves this agent's version 4: upgrade this"
                + " agent, diglett " + Version.release() + ", to the gateway's release", rejection());
    }
}
