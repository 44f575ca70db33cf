package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The payloads of Error, Close, Terminate, Refuse, Window, Ping and Pong, as docs/protocol.md writes them. */
class SignalsTest {

    private static final UnpooledByteBufAllocator ALLOC = UnpooledByteBufAllocator.DEFAULT;

    @Test
    void aReasonFromThePeerIsEscapedForLogsAndTerminals() {
        String forged = "busy\n2026-12-04 [main] INFO register domain 'bank' -> '443'\u001b[2J\u202egnp.exe\u0085";
        Frame frame = new Frame(FrameKind.ERROR, 7, Unpooled.copiedBuffer(forged, StandardCharsets.UTF_8));
        try {
            assertEquals("busy\\u000a2026-12-04 [main] INFO register domain 'bank' -> '443'\\u001b[2J\\u202egnp.exe"
                    + "\\u0085", Signals.Reason.decode(frame).text());
        } finally {
            frame.release();
        }
        Frame plain = new Frame(FrameKind.CLOSE, 7, Unpooled.copiedBuffer("Zürich backend refused: ✗",
                StandardCharsets.UTF_8));
        try {
            assertEquals("Zürich backend refused: ✗", Signals.Reason.decode(plain).text(), "letters stay as they are");
        } finally {
            plain.release();
        }
    }

    @Test
    void everyReasonKindCarriesUtf8Text() {
        FrameKind[] kinds = {FrameKind.ERROR, FrameKind.CLOSE, FrameKind.TERMINATE, FrameKind.REFUSE};
        for (FrameKind kind : kinds) {
            Frame frame = new Signals.Reason("späť").encode(ALLOC, kind, 5);
            try {
                assertEquals(kind, frame.kind());
                assertEquals(5, frame.id());
                assertEquals(ByteBufUtil.hexDump("späť".getBytes(StandardCharsets.UTF_8)),
                        ByteBufUtil.hexDump(frame.content()));
                assertEquals(new Signals.Reason("späť"), Signals.Reason.decode(frame));
            } finally {
                frame.release();
            }
        }
        Frame empty = new Signals.Reason(null).encode(ALLOC, FrameKind.CLOSE, 5);
        assertEquals(0, empty.content().readableBytes(), "no reason: an empty payload");
        assertEquals("", Signals.Reason.decode(empty).text());
        empty.release();
        assertThrows(IllegalArgumentException.class, () -> new Signals.Reason("x").encode(ALLOC, FrameKind.LOGIN, 0));
    }

    @Test
    void aReasonLongerThanItsKindAllowsIsAProtocolError() {
        Frame frame = new Frame(FrameKind.CLOSE, 1, Unpooled.wrappedBuffer(new byte[1025]));
        try {
            assertEquals("CLOSE frame with 1025 payload bytes, allowed 0..1024",
                    assertThrows(ProtocolException.class, () -> Signals.Reason.decode(frame)).getMessage());
        } finally {
            frame.release();
        }
    }

    @Test
    void windowIsTheFourByteIncrementReadWithoutARecord() {
        Frame frame = Frame.window(ALLOC, 7, 65_536);
        try {
            assertEquals("00010000", ByteBufUtil.hexDump(frame.content()));
            assertEquals(65_536, Signals.WindowUpdate.increment(frame));
            assertEquals(new Signals.WindowUpdate(65_536), Signals.WindowUpdate.decode(frame));
            assertEquals(0, frame.content().readerIndex(), "reading does not consume");
        } finally {
            frame.release();
        }
        Frame again = new Signals.WindowUpdate(-1).encode(ALLOC, 7);
        assertEquals(-1, Signals.WindowUpdate.increment(again), "read, not judged: the stream judges it");
        again.release();
        Frame shortOne = new Frame(FrameKind.WINDOW, 7, Unpooled.wrappedBuffer(new byte[3]));
        assertThrows(ProtocolException.class, () -> Signals.WindowUpdate.increment(shortOne));
        shortOne.release();
    }

    @Test
    void pingAndPongCarryTheSameEightBytes() {
        Signals.Ping ping = new Signals.Ping(0x0102030405060708L);
        Frame frame = ping.encode(ALLOC);
        try {
            assertEquals(FrameKind.PING, frame.kind());
            assertEquals(Protocol.CONNECTION_ID, frame.id());
            assertEquals("0102030405060708", ByteBufUtil.hexDump(frame.content()));
            assertEquals(ping, Signals.Ping.decode(frame));
        } finally {
            frame.release();
        }
        Frame pong = ping.answer().encode(ALLOC);
        try {
            assertEquals(FrameKind.PONG, pong.kind());
            assertEquals("0102030405060708", ByteBufUtil.hexDump(pong.content()));
            assertEquals(new Signals.Pong(0x0102030405060708L), Signals.Pong.decode(pong));
        } finally {
            pong.release();
        }
        Frame notAPing = Frame.pong(ALLOC, 1);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Signals.Ping.decode(notAPing)).getMessage()
                .contains("PONG"));
        notAPing.release();
    }

    @Test
    void aNoticeCarriesItsTopicAndEscapedTextAndIsCutToFit() {
        Frame frame = new Signals.Notice(Signals.Notice.CERTIFICATE, "valid until 2027").encode(ALLOC, 4);
        try {
            Signals.Notice read = Signals.Notice.decode(frame);
            assertEquals(new Signals.Notice(1, "valid until 2027"), read);
            assertEquals(4, frame.id());
        } finally {
            frame.release();
        }
        Frame hostile = new Frame(FrameKind.NOTICE, 1, io.netty.buffer.Unpooled.wrappedBuffer(
                new byte[] {1, 'a', 0x1b, '[', '2', 'J'}));
        assertEquals("a\\u001b[2J", Signals.Notice.decode(hostile).text(), "a terminal escape reaches no terminal");
        hostile.release();
        Frame long_ = new Signals.Notice(1, "\u00e9".repeat(600)).encode(ALLOC, 1);
        try {
            assertEquals(FrameKind.NOTICE.maxPayload() - 1, long_.content().readableBytes() - 1,
                    "cut at a character boundary to the frame's limit");
            assertEquals(256, Signals.Notice.decode(long_).text().length());
        } finally {
            long_.release();
        }
    }
}
