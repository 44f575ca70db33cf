package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;

/**
 * Bytes to {@link Frame}s, without gathering Payload frames: a Payload frame's bytes are passed on as they
 * arrive, as one or more Payload {@link Frame}s of the same stream whose contents add up to the frame's payload
 * (a 65,535-byte frame spread over two reads comes out as two pieces). Stream data is a byte stream and flow
 * control counts bytes, so nothing downstream can tell, and the bulk of the traffic is never copied into a
 * cumulation buffer nor waits for the rest of its frame. Every other kind is emitted whole; those are at most
 * 1,031 bytes.
 *
 * <p>Every header is validated (known kind, size within the kind's bounds) before its payload is awaited, so a
 * bad or oversized frame fails at once and costs no allocation. Payload bytes are retained slices of the input
 * when they fill at least half of the input buffer, else copies (see {@link #piece}).
 *
 * <p>Errors are sticky: after the first {@link ProtocolException} every further byte is released unread, so the
 * session handler can send its Error frame and close without being fed garbage.
 */
public final class FrameDecoder extends ChannelInboundHandlerAdapter {

    private boolean failed;
    /** Bytes of the current Payload frame still to come, and its stream; 0 between frames. */
    private int payloadLeft;
    private int payloadId;
    /** A header, or a whole non-Payload frame, that arrived in pieces; {@code null} when nothing is pending. */
    private ByteBuf pending;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf in)) {
            ctx.fireChannelRead(msg);
            return;
        }
        try {
            decode(ctx, in);
        } finally {
            in.release();
        }
    }

    private void decode(ChannelHandlerContext ctx, ByteBuf in) {
        while (!failed && in.isReadable()) {
            if (payloadLeft > 0) {
                int n = Math.min(payloadLeft, in.readableBytes());
                payloadLeft -= n;
                ctx.fireChannelRead(new Frame(FrameKind.PAYLOAD, payloadId, piece(ctx, in, n)));
            } else if (pending != null) {
                completePending(ctx, in);
            } else if (in.readableBytes() < Protocol.HEADER_LENGTH) {
                pending = ctx.alloc().heapBuffer(Protocol.HEADER_LENGTH);
                pending.writeBytes(in);
            } else {
                int start = in.readerIndex();
                FrameKind kind = header(in, start);
                int id = in.getInt(start + 1);
                int size = in.getUnsignedShort(start + 5);
                if (kind == FrameKind.PAYLOAD) {
                    in.skipBytes(Protocol.HEADER_LENGTH);
                    payloadId = id;
                    payloadLeft = size;
                } else if (in.readableBytes() >= Protocol.HEADER_LENGTH + size) {
                    in.skipBytes(Protocol.HEADER_LENGTH);
                    ctx.fireChannelRead(new Frame(kind, id, piece(ctx, in, size)));
                } else {
                    // the header was checked, so this is at most HEADER_LENGTH + 1,024 bytes
                    pending = ctx.alloc().heapBuffer(Protocol.HEADER_LENGTH + size);
                    pending.writeBytes(in);
                }
            }
        }
        if (failed) {
            in.skipBytes(in.readableBytes());
        }
    }

    /** Adds what {@code in} has of the pending header or frame; emits the frame once it is whole. */
    private void completePending(ChannelHandlerContext ctx, ByteBuf in) {
        if (pending.readableBytes() < Protocol.HEADER_LENGTH) {
            pending.writeBytes(in, Math.min(Protocol.HEADER_LENGTH - pending.readableBytes(), in.readableBytes()));
            if (pending.readableBytes() < Protocol.HEADER_LENGTH) {
                return;
            }
        }
        int start = pending.readerIndex();
        FrameKind kind = header(pending, start);
        int id = pending.getInt(start + 1);
        int size = pending.getUnsignedShort(start + 5);
        if (kind == FrameKind.PAYLOAD) {
            releasePending();
            payloadId = id;
            payloadLeft = size;
            return;
        }
        int missing = Protocol.HEADER_LENGTH + size - pending.readableBytes();
        if (missing > 0) {
            if (pending.capacity() < Protocol.HEADER_LENGTH + size) {
                ByteBuf whole = ctx.alloc().heapBuffer(Protocol.HEADER_LENGTH + size);
                whole.writeBytes(pending);
                pending.release();
                pending = whole;
            }
            int n = Math.min(missing, in.readableBytes());
            pending.writeBytes(in, n);
            if (n < missing) {
                return;
            }
        }
        ByteBuf frame = pending;
        pending = null;
        frame.skipBytes(Protocol.HEADER_LENGTH);
        ctx.fireChannelRead(new Frame(kind, id, frame));
    }

    /** Validates the header at {@code start}: a known kind and a size within its bounds. */
    private FrameKind header(ByteBuf buf, int start) {
        int code = buf.getUnsignedByte(start);
        int size = buf.getUnsignedShort(start + 5);
        FrameKind kind = FrameKind.of(code);
        if (kind == null) {
            throw fail(String.format("unknown frame kind 0x%02x", code));
        }
        if (size < kind.minPayload() || size > kind.maxPayload()) {
            throw fail(kind + " frame with " + size + " payload bytes, allowed "
                    + kind.minPayload() + ".." + kind.maxPayload());
        }
        return kind;
    }

    /**
     * The next {@code size} bytes as a slice of the input when they fill at least half of the input buffer, else
     * as a copy: a slice keeps its whole buffer alive until released, so a small payload held for a slow socket
     * must not pin a large read buffer. Memory held per payload byte is thus at most two bytes.
     */
    private static ByteBuf piece(ChannelHandlerContext ctx, ByteBuf in, int size) {
        if (size >= in.capacity() >>> 1) {
            return in.readRetainedSlice(size);
        }
        ByteBuf copy = ctx.alloc().buffer(size, size);
        copy.writeBytes(in, size);
        return copy;
    }

    private ProtocolException fail(String message) {
        failed = true;
        releasePending();
        return new ProtocolException(message);
    }

    private void releasePending() {
        if (pending != null) {
            ReferenceCountUtil.release(pending);
            pending = null;
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releasePending();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releasePending();
        ctx.fireChannelInactive();
    }

    /** Whether a decode error has been seen; from then on all input is dropped. */
    public boolean failed() {
        return failed;
    }
}
