package io.diglett.protocol.mux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameDecoder;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What a peer's frames can make us hold: payload bytes, not read buffers or per-frame bookkeeping. */
class MemoryBoundsTest {

    @Test
    void aSmallPayloadIsCopiedOutOfALargeReadBufferAndALargeOneIsNot() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        ByteBuf read = Unpooled.buffer(70_000);
        read.writeByte(FrameKind.PAYLOAD.code()).writeInt(1).writeShort(10).writeZero(10);
        read.writeByte(FrameKind.PAYLOAD.code()).writeInt(2).writeShort(60_000).writeZero(60_000);
        channel.writeInbound(read);
        Frame small = channel.readInbound();
        Frame large = channel.readInbound();
        try {
            assertEquals(10, heldCapacity(small.content()), "a 10-byte payload must not keep a 70 KB buffer alive");
            assertTrue(heldCapacity(large.content()) >= 70_000, "a payload filling most of the buffer is a slice");
        } finally {
            small.release();
            large.release();
            channel.finishAndReleaseAll();
        }
    }

    /** The largest capacity behind a buffer: what holding it keeps alive. */
    private static int heldCapacity(ByteBuf buf) {
        int capacity = 0;
        for (ByteBuf b = buf; b != null; b = b.unwrap()) {
            capacity = Math.max(capacity, b.capacity());
        }
        return capacity;
    }

    @Test
    void tinyPayloadsForABackedUpSocketAreGatheredInOneBuffer() {
        EmbeddedChannel link = new EmbeddedChannel();
        EmbeddedChannel local = new EmbeddedChannel();
        local.config().setWriteBufferWaterMark(new WriteBufferWaterMark(8, 16));
        StreamMux mux = new StreamMux(link, Protocol.DEFAULT_WINDOW);
        Stream stream = mux.create(1, "test");
        stream.attach(local);
        stream.opened(Protocol.DEFAULT_WINDOW);
        List<Object> written = new ArrayList<>();
        try {
            // the first payload is written (unflushed), which takes the socket over its high mark
            mux.onFrame(Frame.payload(1, Unpooled.wrappedBuffer(new byte[32])));
            assertFalse(local.isWritable());
            for (int i = 0; i < 1_000; i++) {
                mux.onFrame(Frame.payload(1, Unpooled.wrappedBuffer(new byte[] {(byte) i})));
            }
            assertEquals(32 + 1_000, stream.bufferedBytes());
            mux.linkReadComplete(); // flush: the socket drains, becomes writable, the gathered bytes follow
            for (Object message; (message = local.readOutbound()) != null; ) {
                written.add(message);
            }
            local.runPendingTasks();
            for (Object message; (message = local.readOutbound()) != null; ) {
                written.add(message);
            }
            assertEquals(2, written.size(), "one write for the first payload, one for the thousand that waited");
            assertEquals(1_000, ((ByteBuf) written.get(1)).readableBytes());
        } finally {
            written.forEach(ReferenceCountUtil::release);
            local.finishAndReleaseAll();
            link.finishAndReleaseAll();
        }
    }

    @Test
    void aPeerThatDoesNotReadItsPongsIsCutOff() {
        EmbeddedChannel link = new EmbeddedChannel();
        List<String> reasons = new ArrayList<>();
        StreamMux mux = new StreamMux(link, Protocol.DEFAULT_WINDOW, reasons::add);
        link.config().setWriteBufferWaterMark(new WriteBufferWaterMark(1, 2));
        try {
            for (int i = 0; i < StreamMux.MAX_QUEUED_CONTROL_FRAMES; i++) {
                assertTrue(mux.writeControl(Frame.pong(link.alloc(), i)));
            }
            assertEquals(StreamMux.MAX_QUEUED_CONTROL_FRAMES, mux.queuedControlFrames());
            assertFalse(mux.writeControl(Frame.pong(link.alloc(), -1)), "one more is refused");
            assertEquals(List.of("the peer is not reading: 10000 control frames queued"), reasons);
            link.flush(); // once written, the count drops again
            assertEquals(0, mux.queuedControlFrames());
        } finally {
            link.finishAndReleaseAll();
        }
    }
}
