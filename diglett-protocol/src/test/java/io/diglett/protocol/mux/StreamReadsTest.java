package io.diglett.protocol.mux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.Protocol;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator.ExtendedHandle;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A read buffer has room for the frame header in front, and the stream knows it is its socket's fresh read:
 * also when the reads of other sockets were allocated in between, as io_uring does (every socket's read is
 * submitted, each with its buffer, before the completions arrive).
 */
class StreamReadsTest {

    private final EmbeddedChannel one = new EmbeddedChannel();
    private final EmbeddedChannel two = new EmbeddedChannel();

    @AfterEach
    void close() {
        one.finishAndReleaseAll();
        two.finishAndReleaseAll();
    }

    private static ExtendedHandle handle(EmbeddedChannel channel) {
        StreamReads.install(channel.config());
        return (ExtendedHandle) channel.config().getRecvByteBufAllocator().newHandle();
    }

    /** What a transport does on a read of {@code bytes}: fill the buffer, then report the count. */
    private static void read(ExtendedHandle handle, ByteBuf buf, int bytes) {
        buf.writeZero(bytes);
        handle.lastBytesRead(bytes);
    }

    @Test
    void eachSocketKnowsItsOwnFreshReadWhenOtherSocketsReadInBetween() {
        ExtendedHandle first = handle(one);
        ExtendedHandle second = handle(two);
        ByteBuf a = first.allocate(ByteBufAllocator.DEFAULT);
        ByteBuf b = second.allocate(ByteBufAllocator.DEFAULT); // submitted before a's read completes
        try {
            assertEquals(Protocol.HEADER_LENGTH, a.readerIndex(), "room in front");
            assertTrue(a.capacity() >= Protocol.HEADER_LENGTH + first.guess());
            read(first, a, 100);
            read(second, b, 200);

            assertFalse(StreamReads.isFreshRead(two, a), "another socket's read");
            assertTrue(StreamReads.isFreshRead(one, a));
            assertFalse(StreamReads.isFreshRead(one, a), "a buffer qualifies once");
            assertTrue(StreamReads.isFreshRead(two, b));
        } finally {
            a.release();
            b.release();
        }
    }

    @Test
    void anEmptyReadsBufferOneFromAnEndedReadLoopAndOneReadFromDoNotQualify() {
        ExtendedHandle handle = handle(one);
        ByteBuf empty = handle.allocate(ByteBufAllocator.DEFAULT);
        handle.lastBytesRead(-1); // end of input: the transport releases the buffer, which may be recycled
        assertFalse(StreamReads.isFreshRead(one, empty));
        empty.release();

        ByteBuf delivered = handle.allocate(ByteBufAllocator.DEFAULT);
        read(handle, delivered, 10);
        handle.readComplete(); // the read loop is over: whatever it read has passed the pipeline
        assertFalse(StreamReads.isFreshRead(one, delivered));
        delivered.release();

        ByteBuf consumed = handle.allocate(ByteBufAllocator.DEFAULT);
        try {
            read(handle, consumed, 10);
            consumed.skipBytes(1); // a handler in front read from it
            assertFalse(StreamReads.isFreshRead(one, consumed));
        } finally {
            consumed.release();
        }
    }

    @Test
    void aSocketWithoutTheseBuffersHasNoFreshReads() {
        ByteBuf plain = ByteBufAllocator.DEFAULT.buffer(64).writerIndex(Protocol.HEADER_LENGTH)
                .readerIndex(Protocol.HEADER_LENGTH);
        try {
            assertFalse(StreamReads.isFreshRead(one, plain));
        } finally {
            plain.release();
        }
    }
}
