package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.EncoderException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** FrameEncoder and FrameDecoder against the wire format: header layout, size bounds, splits, sticky errors. */
class FrameCodecTest {

    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

    /** A frame as plain values, taken before the frame is handed to a channel (which releases it). */
    private record Snapshot(FrameKind kind, int id, String payloadHex) {
        static Snapshot of(Frame frame) {
            return new Snapshot(frame.kind(), frame.id(), ByteBufUtil.hexDump(frame.content()));
        }
    }

    // ------------------------------------------------------------------ helpers

    /** Encodes the frames with FrameEncoder.INSTANCE and returns every byte written, in order. */
    private static byte[] encode(Frame... frames) {
        EmbeddedChannel channel = new EmbeddedChannel(FrameEncoder.INSTANCE);
        try {
            channel.writeOutbound((Object[]) frames);
            ByteBuf all = Unpooled.buffer();
            ByteBuf part;
            while ((part = channel.readOutbound()) != null) {
                all.writeBytes(part);
                part.release();
            }
            return ByteBufUtil.getBytes(all);
        } finally {
            channel.finishAndReleaseAll();
        }
    }

    /** Feeds the pieces, one write each, into a new FrameDecoder and returns what it produced. */
    private static List<Snapshot> decode(byte[]... pieces) {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        try {
            for (byte[] piece : pieces) {
                channel.writeInbound(Unpooled.wrappedBuffer(piece));
            }
            return drainInbound(channel);
        } finally {
            channel.finishAndReleaseAll();
        }
    }

    /**
     * What the decoder emitted, with consecutive Payload pieces of one stream joined: stream data is passed on as
     * it arrives, so a Payload frame split across reads comes out in pieces ({@link #payloadComesOutAsItArrives}).
     */
    private static List<Snapshot> drainInbound(EmbeddedChannel channel) {
        List<Snapshot> frames = new ArrayList<>();
        Object msg;
        while ((msg = channel.readInbound()) != null) {
            Frame frame = (Frame) msg;
            Snapshot snapshot = Snapshot.of(frame);
            frame.release();
            Snapshot last = frames.isEmpty() ? null : frames.get(frames.size() - 1);
            if (last != null && snapshot.kind() == FrameKind.PAYLOAD && last.kind() == FrameKind.PAYLOAD
                    && last.id() == snapshot.id()) {
                frames.set(frames.size() - 1,
                        new Snapshot(FrameKind.PAYLOAD, last.id(), last.payloadHex() + snapshot.payloadHex()));
            } else {
                frames.add(snapshot);
            }
        }
        return frames;
    }

    /** Round-trips the frames and checks that the same kinds, ids and payloads come out. */
    private static List<Snapshot> roundTrip(Frame... frames) {
        List<Snapshot> expected = new ArrayList<>();
        for (Frame frame : frames) {
            expected.add(Snapshot.of(frame));
        }
        List<Snapshot> decoded = decode(encode(frames));
        assertEquals(expected, decoded);
        return decoded;
    }

    private static byte[] bytes(int length) {
        byte[] data = new byte[length];
        for (int i = 0; i < length; i++) {
            data[i] = (byte) (i * 31 + 7);
        }
        return data;
    }

    private static byte[] header(int kind, int id, int size) {
        return new byte[] {(byte) kind, (byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id,
            (byte) (size >>> 8), (byte) size};
    }

    private static ByteBuf payloadOf(Snapshot snapshot) {
        return Unpooled.wrappedBuffer(ByteBufUtil.decodeHexDump(snapshot.payloadHex()));
    }

    // ------------------------------------------------------------------ round trips

    @Test
    void everyKindRoundTripsThroughTheFactories() {
        Frame[] frames = {
            Frame.ok(5),
            Frame.registered(ALLOC, 6, 8080),
            Frame.opened(ALLOC, 7, 262_144),
            Frame.error(ALLOC, 0, "no such tunnel"),
            Frame.login(ALLOC, "s3cret"),
            Frame.register(ALLOC, 3, "web"),
            Frame.finishRegister(),
            Frame.payload(9, Unpooled.wrappedBuffer(bytes(100))),
            Frame.close(ALLOC, 9, "reset by client"),
            Frame.terminate(ALLOC, "shutting down"),
            Requests.Open.of(3, 131_072, new InetSocketAddress("203.0.113.9", 51234), null)
                    .encode(ALLOC, 10, Protocol.VERSION),
            Frame.window(ALLOC, 10, 4096),
            Frame.fin(10),
            Frame.ping(ALLOC, 0x0102030405060708L),
            Frame.pong(ALLOC, 0x0102030405060708L),
            Frame.refuse(ALLOC, "login refused: unknown token"),
            new Joining.Join(new java.util.UUID(1, 2)).encode(ALLOC),
            new Joining.Challenge(bytes(16)).encode(ALLOC),
            new Joining.Proof(bytes(32)).encode(ALLOC),
            new Signals.Notice(Signals.Notice.CERTIFICATE, "valid until 2027-03-05T10:00:00Z").encode(ALLOC, 3),
            Policy.parse("allow-cidr 10.0.0.0/8\n").encode(ALLOC, 3),
        };
        Set<FrameKind> kinds = EnumSet.noneOf(FrameKind.class);
        for (Frame frame : frames) {
            kinds.add(frame.kind());
        }
        assertEquals(EnumSet.allOf(FrameKind.class), kinds, "the list covers every kind");

        List<Snapshot> out = roundTrip(frames);

        // The factories' payload layouts, read back from the decoded frames.
        assertEquals(8080, payloadOf(out.get(1)).readUnsignedShort());
        assertEquals(262_144, payloadOf(out.get(2)).readInt());
        assertEquals("no such tunnel", payloadOf(out.get(3)).toString(StandardCharsets.UTF_8));
        assertEquals(Protocol.CONNECTION_ID, out.get(4).id());
        assertEquals("s3cret", payloadOf(out.get(4)).toString(StandardCharsets.UTF_8));
        assertEquals("web", payloadOf(out.get(5)).toString(StandardCharsets.UTF_8));
        assertEquals("", out.get(6).payloadHex());
        Frame open = new Frame(FrameKind.OPEN, out.get(10).id(), payloadOf(out.get(10)));
        assertEquals(new Requests.Open(3, 131_072, new InetSocketAddress("203.0.113.9", 51234), null),
                Requests.Open.decode(open));
        open.release();
        assertEquals(4096, payloadOf(out.get(11)).readInt());
        assertEquals(0x0102030405060708L, payloadOf(out.get(13)).readLong());
        assertEquals(0x0102030405060708L, payloadOf(out.get(14)).readLong());
    }

    @Test
    void headerIsKindThenBigEndianIdThenBigEndianSize() {
        byte[] payload = bytes(300);
        byte[] wire = encode(Frame.payload(0x80000001, Unpooled.wrappedBuffer(payload)));

        assertEquals(Protocol.HEADER_LENGTH + 300, wire.length);
        assertEquals("04" + "80000001" + "012c", ByteBufUtil.hexDump(wire, 0, Protocol.HEADER_LENGTH));
        byte[] body = new byte[300];
        System.arraycopy(wire, Protocol.HEADER_LENGTH, body, 0, 300);
        assertArrayEquals(payload, body);
    }

    @Test
    void idsAboveTwoToThe31RoundTripAsUnsigned() {
        List<Snapshot> out = roundTrip(Frame.fin(0xFFFFFFFE), Frame.ok(0x80000000));
        assertEquals(0xFFFFFFFE, out.get(0).id());
        assertEquals("4294967294", Integer.toUnsignedString(out.get(0).id()));

        Frame frame = Frame.ok(0x80000001);
        assertEquals("OK(id=2147483649, size=0)", frame.toString());
        frame.release();
    }

    @Test
    void maximumPayloadOf65535BytesRoundTrips() {
        byte[] data = bytes(Protocol.MAX_PAYLOAD);
        byte[] wire = encode(Frame.payload(1, Unpooled.wrappedBuffer(data)));
        assertEquals("04" + "00000001" + "ffff", ByteBufUtil.hexDump(wire, 0, Protocol.HEADER_LENGTH));

        List<Snapshot> out = decode(wire);
        assertEquals(1, out.size());
        assertArrayEquals(data, ByteBufUtil.decodeHexDump(out.get(0).payloadHex()));
    }

    @Test
    void largePayloadIsWrittenAfterItsHeaderWithoutACopy() {
        ByteBuf payload = Unpooled.wrappedBuffer(bytes(2000));
        EmbeddedChannel channel = new EmbeddedChannel(FrameEncoder.INSTANCE);
        assertTrue(2000 > FrameEncoder.COPY_THRESHOLD);

        channel.writeOutbound(Frame.payload(4, payload));
        ByteBuf header = channel.readOutbound();
        ByteBuf body = channel.readOutbound();
        assertNull(channel.readOutbound());

        assertEquals(Protocol.HEADER_LENGTH, header.readableBytes(), "the header alone");
        assertEquals("04" + "00000004" + "07d0", ByteBufUtil.hexDump(header));
        assertTrue(body == payload, "the payload buffer itself is written, not a copy");
        assertEquals(1, payload.refCnt(), "the encoder keeps exactly the reference the frame gave up");
        header.release();
        body.release();
        assertEquals(0, payload.refCnt());
        assertFalse(channel.finishAndReleaseAll());

        roundTrip(Frame.payload(4, Unpooled.wrappedBuffer(bytes(2000))));
    }

    @Test
    void smallPayloadIsCopiedBehindItsHeaderInOneBuffer() {
        ByteBuf payload = Unpooled.wrappedBuffer(bytes(10));
        EmbeddedChannel channel = new EmbeddedChannel(FrameEncoder.INSTANCE);

        channel.writeOutbound(Frame.payload(4, payload));
        ByteBuf single = channel.readOutbound();
        assertNull(channel.readOutbound());

        assertEquals(Protocol.HEADER_LENGTH + 10, single.readableBytes());
        assertEquals("04" + "00000004" + "000a" + ByteBufUtil.hexDump(bytes(10)), ByteBufUtil.hexDump(single));
        assertEquals(0, payload.refCnt(), "the frame's payload is released once copied");
        single.release();
        assertFalse(channel.finishAndReleaseAll());

        roundTrip(Frame.payload(4, Unpooled.wrappedBuffer(bytes(10))));
    }

    // ------------------------------------------------------------------ splits

    private static Frame[] sequence() {
        return new Frame[] {
            Frame.ok(1),
            Frame.payload(0x90000002, Unpooled.wrappedBuffer(bytes(150))),
            Frame.window(ALLOC, 0x90000002, 65_535),
            Frame.error(ALLOC, 3, "späť"),
            Frame.fin(0x90000002),
            Frame.ping(ALLOC, -1L),
        };
    }

    private static List<Snapshot> snapshots(Frame[] frames) {
        List<Snapshot> list = new ArrayList<>();
        for (Frame frame : frames) {
            list.add(Snapshot.of(frame));
        }
        return list;
    }

    @Test
    void everySplitPointYieldsTheSameFrames() {
        Frame[] frames = sequence();
        List<Snapshot> expected = snapshots(frames);
        byte[] wire = encode(frames);

        for (int split = 0; split <= wire.length; split++) {
            byte[] first = new byte[split];
            byte[] second = new byte[wire.length - split];
            System.arraycopy(wire, 0, first, 0, split);
            System.arraycopy(wire, split, second, 0, second.length);
            assertEquals(expected, decode(first, second), "split at byte " + split);
        }
    }

    @Test
    void oneByteAtATimeYieldsTheSameFrames() {
        Frame[] frames = sequence();
        List<Snapshot> expected = snapshots(frames);
        byte[] wire = encode(frames);

        byte[][] pieces = new byte[wire.length][];
        for (int i = 0; i < wire.length; i++) {
            pieces[i] = new byte[] {wire[i]};
        }
        assertEquals(expected, decode(pieces));
    }

    @Test
    void payloadComesOutAsItArrives() {
        byte[] data = new byte[1000];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 7);
        }
        byte[] wire = encode(Frame.payload(9, Unpooled.wrappedBuffer(data)), Frame.window(ALLOC, 9, 4096),
                Frame.close(ALLOC, 9, "done"));
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        try {
            // the header and 300 bytes of the payload: those 300 bytes go on at once, nothing waits for the rest
            channel.writeInbound(Unpooled.wrappedBuffer(wire, 0, Protocol.HEADER_LENGTH + 300));
            assertEquals(List.of(new Snapshot(FrameKind.PAYLOAD, 9, ByteBufUtil.hexDump(data, 0, 300))),
                    drainInbound(channel));
            // the rest of the payload, the Window and half of the Close: the Close only comes out whole
            int upTo = wire.length - 3;
            channel.writeInbound(Unpooled.wrappedBuffer(wire, Protocol.HEADER_LENGTH + 300,
                    upTo - Protocol.HEADER_LENGTH - 300));
            assertEquals(List.of(new Snapshot(FrameKind.PAYLOAD, 9, ByteBufUtil.hexDump(data, 300, 700)),
                    new Snapshot(FrameKind.WINDOW, 9, "00001000")), drainInbound(channel));
            channel.writeInbound(Unpooled.wrappedBuffer(wire, upTo, 3));
            assertEquals(List.of(new Snapshot(FrameKind.CLOSE, 9, ByteBufUtil.hexDump("done".getBytes(
                    StandardCharsets.UTF_8)))), drainInbound(channel));
        } finally {
            assertFalse(channel.finishAndReleaseAll());
        }
    }

    @Test
    void aPayloadWithHeaderRoomGoesOutAsOneBufferWithTheSameBytes() {
        byte[] data = new byte[5000];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 13);
        }
        byte[] expected = encode(Frame.payload(42, Unpooled.wrappedBuffer(data)));

        // a stream socket's read buffer: the data at offset HEADER_LENGTH, the bytes in front free
        ByteBuf read = ALLOC.directBuffer(Protocol.HEADER_LENGTH + data.length);
        read.setIndex(Protocol.HEADER_LENGTH, Protocol.HEADER_LENGTH).writeBytes(data);
        EmbeddedChannel channel = new EmbeddedChannel(FrameEncoder.INSTANCE);
        try {
            channel.writeOutbound(Frame.payloadWithHeaderRoom(42, read));
            ByteBuf out = channel.readOutbound();
            assertTrue(out == read, "the read buffer itself, header written in front, nothing copied");
            assertArrayEquals(expected, ByteBufUtil.getBytes(out));
            assertNull(channel.readOutbound(), "one buffer for header and payload");
            out.release();
        } finally {
            assertFalse(channel.finishAndReleaseAll());
        }
        assertThrows(IllegalArgumentException.class,
                () -> Frame.payloadWithHeaderRoom(1, Unpooled.wrappedBuffer(data)), "no room in front");
    }

    @Test
    void aLargePayloadIsASliceOfTheReadBufferNotACopy() {
        byte[] wire = encode(Frame.payload(3, Unpooled.wrappedBuffer(new byte[40_000])));
        ByteBuf read = ALLOC.directBuffer(wire.length).writeBytes(wire);
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        try {
            channel.writeInbound(read);
            Frame frame = channel.readInbound();
            assertEquals(40_000, frame.content().readableBytes());
            assertTrue(frame.content().unwrap() != null, "a slice of the read buffer, not a copy");
            frame.release();
            assertEquals(0, read.refCnt(), "the read buffer is freed once its slice is");
        } finally {
            assertFalse(channel.finishAndReleaseAll());
        }
    }

    // ------------------------------------------------------------------ malformed input

    @Test
    void unknownKindFailsNamingTheKind() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> channel.writeInbound(Unpooled.wrappedBuffer(header(0x7f, 1, 0))));
        assertTrue(e.getMessage().contains("0x7f"), e.getMessage());
        assertFalse(channel.finishAndReleaseAll());
    }

    @Test
    void headerWithinBoundsWaitsForItsPayload() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        assertFalse(channel.writeInbound(Unpooled.wrappedBuffer(header(FrameKind.REGISTER.code(), 1, 63))));
        assertFalse(channel.writeInbound(Unpooled.wrappedBuffer(header(FrameKind.WINDOW.code(), 1, 4))),
                "still waiting for the Register payload");
        assertFalse(channel.finishAndReleaseAll());
    }

    @Test
    void sizeAboveTheKindsMaximumFailsFromTheHeaderAlone() {
        assertSizeRejected(FrameKind.REGISTER, 66, "REGISTER frame with 66 payload bytes, allowed 1..65");
        assertSizeRejected(FrameKind.WINDOW, 5, "WINDOW frame with 5 payload bytes, allowed 4..4");
        assertSizeRejected(FrameKind.FIN, 1, "FIN frame with 1 payload bytes, allowed 0..0");
        assertSizeRejected(FrameKind.ERROR, 1025, "ERROR frame with 1025 payload bytes, allowed 0..1024");
    }

    @Test
    void sizeBelowTheKindsMinimumFails() {
        assertSizeRejected(FrameKind.PAYLOAD, 0, "PAYLOAD frame with 0 payload bytes, allowed 1..65535");
        assertSizeRejected(FrameKind.WINDOW, 3, "WINDOW frame with 3 payload bytes, allowed 4..4");
        assertSizeRejected(FrameKind.OPEN, 7, "OPEN frame with 7 payload bytes, allowed 8..263");
    }

    /** Sends only the 7-byte header: the decoder must refuse it without waiting for the payload. */
    private static void assertSizeRejected(FrameKind kind, int size, String message) {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> channel.writeInbound(Unpooled.wrappedBuffer(header(kind.code(), 1, size))));
        assertEquals(message, e.getMessage());
        assertFalse(channel.finishAndReleaseAll());
    }

    @Test
    void errorsAreSticky() {
        FrameDecoder decoder = new FrameDecoder();
        EmbeddedChannel channel = new EmbeddedChannel(decoder);
        assertFalse(decoder.failed());
        assertThrows(ProtocolException.class,
                () -> channel.writeInbound(Unpooled.wrappedBuffer(header(0x7f, 1, 0))));
        assertTrue(decoder.failed());

        byte[] valid = encode(Frame.ok(1), Frame.payload(2, Unpooled.wrappedBuffer(bytes(20))));
        assertFalse(channel.writeInbound(Unpooled.wrappedBuffer(valid)));
        assertFalse(channel.writeInbound(Unpooled.wrappedBuffer(header(0x7f, 1, 0))), "no second error either");
        channel.checkException();
        assertNull(channel.readInbound());
        assertTrue(decoder.failed());
        assertFalse(channel.finishAndReleaseAll());
    }

    // ------------------------------------------------------------------ reasons and encoder checks

    @Test
    void longErrorMessageIsTruncatedAtACharacterBoundary() {
        String message = "é€😀".repeat(200); // 2 + 3 + 4 = 9 bytes per repetition, 1800 in all
        Frame frame = Frame.error(ALLOC, 0, message);

        int size = frame.content().readableBytes();
        assertTrue(size <= FrameKind.ERROR.maxPayload(), size + " bytes");
        // 113 repetitions (1017 bytes) + "é€" (5) = 1022; the next character, 4 bytes, would not fit.
        assertEquals(1022, size);
        String text = frame.text();
        assertEquals(message.substring(0, 113 * 4 + 2), text);
        assertFalse(text.contains("\uFFFD"), "no character was cut in half");

        List<Snapshot> out = roundTrip(frame);
        assertEquals(text, payloadOf(out.get(0)).toString(StandardCharsets.UTF_8));
    }

    @Test
    void encoderRefusesAPayloadAboveTheKindsMaximum() {
        EmbeddedChannel channel = new EmbeddedChannel(FrameEncoder.INSTANCE);
        Frame frame = new Frame(FrameKind.REGISTER, 1, Unpooled.wrappedBuffer(new byte[66]));

        EncoderException e = assertThrows(EncoderException.class, () -> channel.writeOutbound(frame));
        assertTrue(e.getMessage().contains("REGISTER frame with 66 payload bytes"), e.getMessage());
        assertNull(channel.readOutbound(), "nothing was written");
        assertEquals(0, frame.refCnt(), "the refused frame is released");
        assertFalse(channel.finishAndReleaseAll());
    }
}
