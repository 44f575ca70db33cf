package io.diglett.protocol.mux;

import io.diglett.protocol.Protocol;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * Read buffers for stream sockets with room for a frame header in front: each read lands at offset
 * {@link Protocol#HEADER_LENGTH} of its buffer, so the frame encoder can write the Payload header into those
 * first bytes and hand the link one contiguous frame. The TLS handler then encrypts the frame straight from the
 * read buffer; with the header in a buffer of its own it first copied header and payload together, every byte.
 *
 * <p>Reads are sized by Netty's adaptive guess, capped at {@link #MAX_READ} so that a full read makes one frame
 * whose TLS records (BoringSSL's, TLS 1.3) take {@link #FRAME_ON_WIRE} bytes: one TCP segment on loopback (MSS
 * 65,483 once the connection's window has grown) and one segmentation-offload packet of 45 whole segments on
 * an Ethernet link (MSS 1,448). The JDK's engine, used where BoringSSL does not load, adds 64 bytes more. A
 * frame of exactly 64 KiB took 65,624 bytes, so each went out as a full segment plus a 141-byte one
 * (TCP_NODELAY sends it at once): twice the packets, ACKs and wake-ups on the link.
 *
 * <p>Only a buffer that reaches the stream as it was read may use the room: the stream checks that the message
 * is the buffer its own socket's last read filled ({@link #isFreshRead}), and that nothing was read from it yet.
 * Anything a handler in front of the stream made (the HTTP ingress) does not qualify and gets its header in a
 * buffer of its own, as before. Each socket has its own instance, so the check holds with io_uring too, where a
 * loop submits the reads of many sockets (each allocating its buffer) before any of them completes; one
 * "last buffer" per thread, as before, matched only the last of them.
 */
public final class StreamReads implements RecvByteBufAllocator {

    /** What TLS 1.3 adds to each record: a 5-byte header, the content-type byte and a 16-byte AEAD tag. */
    private static final int TLS_RECORD_OVERHEAD = 22;

    /** What a full read's frame takes on the link once encrypted: 45 Ethernet segments, under 64 KiB. */
    public static final int FRAME_ON_WIRE = 45 * 1448;

    /** Largest read: header plus read make a frame of four TLS records, {@link #FRAME_ON_WIRE} bytes in all. */
    public static final int MAX_READ = FRAME_ON_WIRE - 4 * TLS_RECORD_OVERHEAD - Protocol.HEADER_LENGTH;

    /** Netty's adaptive sizing, shared: it keeps no state of its own (each handle keeps its socket's). */
    private static final AdaptiveRecvByteBufAllocator SIZES = new AdaptiveRecvByteBufAllocator(64, 2048, 65_536);

    /**
     * The buffer this socket's last read allocated, until the stream has taken it or the read came back empty;
     * compared by identity only. Touched on the socket's event loop alone.
     */
    private ByteBuf last;

    private StreamReads() {
    }

    /** Uses these read buffers for {@code config}'s channel (its first read must still be to come). */
    static void install(ChannelConfig config) {
        config.setRecvByteBufAllocator(new StreamReads());
    }

    /**
     * Whether {@code buf} is the buffer {@code channel}'s last read filled, untouched since: its first
     * {@link Protocol#HEADER_LENGTH} bytes are free for a header. A buffer qualifies once.
     */
    static boolean isFreshRead(Channel channel, ByteBuf buf) {
        if (channel.config().getRecvByteBufAllocator() instanceof StreamReads reads && reads.last == buf) {
            reads.last = null;
            return buf.readerIndex() == Protocol.HEADER_LENGTH;
        }
        return false;
    }

    @Override
    public ExtendedHandle newHandle() {
        return new RoomyHandle((ExtendedHandle) SIZES.newHandle());
    }

    /** Netty's adaptive sizing, with each buffer allocated with room in front. */
    private final class RoomyHandle implements ExtendedHandle {
        private final ExtendedHandle delegate;

        RoomyHandle(ExtendedHandle delegate) {
            this.delegate = delegate;
        }

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            int size = Math.min(delegate.guess(), MAX_READ);
            ByteBuf buf = alloc.ioBuffer(Protocol.HEADER_LENGTH + size, Protocol.HEADER_LENGTH + size);
            buf.setIndex(Protocol.HEADER_LENGTH, Protocol.HEADER_LENGTH);
            last = buf;
            return buf;
        }

        @Override
        public int guess() {
            return Math.min(delegate.guess(), MAX_READ);
        }

        @Override
        public void reset(ChannelConfig config) {
            delegate.reset(config);
        }

        @Override
        public void incMessagesRead(int numMessages) {
            delegate.incMessagesRead(numMessages);
        }

        @Override
        public void lastBytesRead(int bytes) {
            if (bytes <= 0) {
                last = null; // the transport releases an empty read's buffer, which may then be recycled
            }
            delegate.lastBytesRead(bytes);
        }

        @Override
        public int lastBytesRead() {
            return delegate.lastBytesRead();
        }

        @Override
        public void attemptedBytesRead(int bytes) {
            delegate.attemptedBytesRead(bytes);
        }

        @Override
        public int attemptedBytesRead() {
            return delegate.attemptedBytesRead();
        }

        @Override
        public boolean continueReading() {
            return delegate.continueReading();
        }

        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreDataSupplier) {
            return delegate.continueReading(maybeMoreDataSupplier);
        }

        @Override
        public void readComplete() {
            delegate.readComplete();
            last = null; // after the loop's last read reached the pipeline: nothing of it is to come
        }
    }
}
