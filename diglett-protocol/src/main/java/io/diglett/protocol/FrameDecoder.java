package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Bytes to {@link Frame}s. The header is validated (known kind, size within the kind's bounds) before any
 * payload is awaited, so a bad or oversized frame fails at once and costs no allocation. Large payloads
 * are retained slices of the input, small ones copies (see {@link #payload}).
 *
 * <p>Errors are sticky: after the first {@link ProtocolException} every further byte is discarded unread,
 * so the session handler can send its Error frame and close without being fed garbage.
 */
public final class FrameDecoder extends ByteToMessageDecoder {

    private boolean failed;

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        while (in.readableBytes() >= Protocol.HEADER_LENGTH) {
            int start = in.readerIndex();
            int code = in.getUnsignedByte(start);
            int id = in.getInt(start + 1);
            int size = in.getUnsignedShort(start + 5);
            FrameKind kind = FrameKind.of(code);
            if (kind == null) {
                throw fail(in, String.format("unknown frame kind 0x%02x", code));
            }
            if (size < kind.minPayload() || size > kind.maxPayload()) {
                throw fail(in, kind + " frame with " + size + " payload bytes, allowed "
                        + kind.minPayload() + ".." + kind.maxPayload());
            }
            if (in.readableBytes() < Protocol.HEADER_LENGTH + size) {
                return;
            }
            in.skipBytes(Protocol.HEADER_LENGTH);
            out.add(new Frame(kind, id, payload(ctx, in, size)));
        }
    }

    /**
     * The payload as a slice of the input when it fills at least half of the input buffer, else as a copy:
     * a slice keeps its whole buffer alive until released, so a small payload held for a slow socket must not
     * pin a large read buffer. Memory held per payload byte is thus at most two bytes.
     */
    private static ByteBuf payload(ChannelHandlerContext ctx, ByteBuf in, int size) {
        if (size >= in.capacity() >>> 1) {
            return in.readRetainedSlice(size);
        }
        ByteBuf copy = ctx.alloc().buffer(size, size);
        copy.writeBytes(in, size);
        return copy;
    }

    private ProtocolException fail(ByteBuf in, String message) {
        failed = true;
        in.skipBytes(in.readableBytes());
        return new ProtocolException(message);
    }

    /** Whether a decode error has been seen; from then on all input is dropped. */
    public boolean failed() {
        return failed;
    }
}
