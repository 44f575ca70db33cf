package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** HandshakeDecoder in front of a FrameDecoder, as on the agent link. */
class HandshakeDecoderTest {

    private FrameDecoder frameDecoder;
    private EmbeddedChannel channel;

    @BeforeEach
    void setUp() {
        frameDecoder = new FrameDecoder();
        channel = new EmbeddedChannel(new HandshakeDecoder(), frameDecoder);
    }

    @AfterEach
    void tearDown() {
        channel.finishAndReleaseAll();
    }

    /** The bytes of a Ping frame with the given opaque value, written by hand from the spec. */
    private static ByteBuf pingBytes(long opaque) {
        return Unpooled.buffer().writeByte(FrameKind.PING.code()).writeInt(0).writeShort(8).writeLong(opaque);
    }

    private static byte[] handshakeBytes(int version) {
        ByteBuf buf = Handshake.encode(ByteBufAllocator.DEFAULT, version);
        try {
            return ByteBufUtil.getBytes(buf);
        } finally {
            buf.release();
        }
    }

    private void assertPing(long opaque) {
        Frame frame = channel.readInbound();
        assertNotNull(frame, "a frame follows the handshake");
        try {
            assertEquals(FrameKind.PING, frame.kind());
            assertEquals(opaque, frame.content().getLong(frame.content().readerIndex()));
        } finally {
            frame.release();
        }
    }

    @Test
    void encodedHandshakeIsMagicThenVersion() {
        assertEquals("6469676c06", ByteBufUtil.hexDump(handshakeBytes(Protocol.VERSION)));
        assertEquals("digl", new String(handshakeBytes(Protocol.VERSION), 0, 4, StandardCharsets.US_ASCII));
    }

    @Test
    void handshakeAndFrameInOneBuffer() {
        ByteBuf buf = Unpooled.wrappedBuffer(Unpooled.wrappedBuffer(handshakeBytes(Protocol.VERSION)), pingBytes(42));
        assertTrue(channel.writeInbound(buf));

        Handshake handshake = channel.readInbound();
        assertEquals(new Handshake(Protocol.VERSION), handshake);
        assertTrue(handshake.compatible());
        assertPing(42);
        assertNull(channel.readInbound());
        assertNull(channel.pipeline().get(HandshakeDecoder.class), "the handshake decoder removed itself");
        assertNotNull(channel.pipeline().get(FrameDecoder.class));
    }

    @Test
    void handshakeSplitByteByByte() {
        byte[] handshake = handshakeBytes(Protocol.VERSION);
        for (int i = 0; i < handshake.length - 1; i++) {
            assertFalse(channel.writeInbound(Unpooled.wrappedBuffer(new byte[] {handshake[i]})), "byte " + i);
            assertNotNull(channel.pipeline().get(HandshakeDecoder.class));
        }
        assertTrue(channel.writeInbound(Unpooled.wrappedBuffer(new byte[] {handshake[4]})));
        assertEquals(new Handshake(Protocol.VERSION), channel.readInbound());
        assertNull(channel.pipeline().get(HandshakeDecoder.class));

        ByteBuf ping = pingBytes(7);
        while (ping.isReadable()) {
            channel.writeInbound(ping.readRetainedSlice(1));
        }
        ping.release();
        assertPing(7);
    }

    @Test
    void httpRequestFailsAtOnceNamingTheBytesSeen() {
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> channel.writeInbound(Unpooled.copiedBuffer("GET / HTTP/1.1\r\n", StandardCharsets.US_ASCII)));
        assertEquals("not a diglett peer: expected magic 'digl', got 'GET / HT'", e.getMessage());
    }

    @Test
    void wrongFirstByteFailsBeforeFourBytesArrive() {
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> channel.writeInbound(Unpooled.copiedBuffer("G", StandardCharsets.US_ASCII)));
        assertTrue(e.getMessage().endsWith("got 'G'"), e.getMessage());
    }

    @Test
    void wrongThirdByteFailsThere() {
        assertFalse(channel.writeInbound(Unpooled.copiedBuffer("di", StandardCharsets.US_ASCII)));
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> channel.writeInbound(Unpooled.copiedBuffer("X", StandardCharsets.US_ASCII)));
        assertTrue(e.getMessage().endsWith("got 'diX'"), e.getMessage());
    }

    @Test
    void nonPrintableBytesAreEscapedInTheMessage() {
        // The start of a TLS ClientHello.
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> channel.writeInbound(Unpooled.wrappedBuffer(new byte[] {0x16, 0x03, 0x01})));
        assertTrue(e.getMessage().endsWith("got '\\x16\\x03\\x01'"), e.getMessage());
    }

    @Test
    void failureIsStickyAndTheFrameDecoderNeverSeesLaterInput() {
        assertThrows(ProtocolException.class,
                () -> channel.writeInbound(Unpooled.copiedBuffer("G", StandardCharsets.US_ASCII)));

        // A valid handshake and frame afterwards: nothing comes out, nothing fails.
        assertFalse(channel.writeInbound(Unpooled.wrappedBuffer(handshakeBytes(Protocol.VERSION))));
        assertFalse(channel.writeInbound(pingBytes(1)));
        assertFalse(channel.writeInbound(Unpooled.copiedBuffer("junk", StandardCharsets.US_ASCII)));
        channel.checkException();
        assertNull(channel.readInbound());
        assertNotNull(channel.pipeline().get(HandshakeDecoder.class), "the failed decoder stays in place");
        assertFalse(frameDecoder.failed(), "the frame decoder was never fed");
    }

    @Test
    void otherVersionsAreDecodedButNotCompatible() {
        for (int version : new int[] {1, 2, 3, 7}) {
            EmbeddedChannel ch = new EmbeddedChannel(new HandshakeDecoder(), new FrameDecoder());
            assertTrue(ch.writeInbound(Unpooled.wrappedBuffer(handshakeBytes(version))));
            Handshake handshake = ch.readInbound();
            assertEquals(version, handshake.version());
            assertFalse(handshake.compatible(), "version " + version);
            assertFalse(ch.finishAndReleaseAll());
        }
    }

    @Test
    void theGatewayAnswersWithTheNewestVersionBothSpeak() {
        assertEquals(-1, new Handshake(0).negotiate());
        assertEquals(-1, new Handshake(1).negotiate(), "the seed's version is not served");
        assertEquals(2, new Handshake(2).negotiate(), "a version-2 agent gets a version-2 link");
        assertEquals(3, new Handshake(3).negotiate(), "a version-3 agent gets a version-3 link");
        assertEquals(4, new Handshake(4).negotiate(), "a version-4 agent gets a version-4 link");
        assertEquals(5, new Handshake(5).negotiate(), "a version-5 agent gets a version-5 link (no Notice)");
        assertEquals(6, new Handshake(6).negotiate());
        assertEquals(6, new Handshake(7).negotiate(), "a newer agent is offered ours");
        assertEquals(6, new Handshake(255).negotiate());
        assertTrue(new Handshake(new Handshake(Protocol.VERSION).negotiate()).compatible(),
                "an agent of this version accepts what a gateway of this version answers");
    }

    @Test
    void anAgentGoesOnWithAVersion4GatewayWithOneLinkButNotWithOlderOnes() {
        assertTrue(new Handshake(4).compatible(), "version 5 only adds joined links: a version-4 gateway is served");
        assertTrue(new Handshake(Protocol.VERSION).compatible());
        assertFalse(new Handshake(3).compatible());
        assertFalse(new Handshake(Protocol.VERSION + 1).compatible());
    }

    @Test
    void peekReadsAWholeHandshakeWithoutConsumingIt() {
        ByteBuf whole = Unpooled.wrappedBuffer(handshakeBytes(2));
        assertEquals(new Handshake(2), Handshake.peek(whole));
        assertEquals(0, whole.readerIndex());
        assertNull(Handshake.peek(Unpooled.wrappedBuffer(handshakeBytes(2), 0, 4)), "not all there yet");
        assertNull(Handshake.peek(Unpooled.wrappedBuffer(new byte[] {'d', 'i', 'g', 'X', 2})), "not the magic");
    }
}
