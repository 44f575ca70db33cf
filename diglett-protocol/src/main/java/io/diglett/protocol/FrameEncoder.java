package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.EncoderException;
import io.netty.handler.codec.MessageToMessageEncoder;
import java.util.List;

/**
 * {@link Frame}s to bytes. A payload read from a stream socket with room in front ({@link Frame#hasHeaderRoom})
 * gets its header written into that room and goes out as one buffer, uncopied; other small payloads are copied
 * behind the header into one buffer; other large ones are sent as header + the payload buffer itself (a
 * gathering write).
 */
@Sharable
public final class FrameEncoder extends MessageToMessageEncoder<Frame> {

    /** Payloads up to this size are copied next to their header; larger ones are written as they are. */
    static final int COPY_THRESHOLD = 1024;

    public static final FrameEncoder INSTANCE = new FrameEncoder();

    private FrameEncoder() {
        super(Frame.class);
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, Frame frame, List<Object> out) {
        ByteBuf payload = frame.content();
        int size = payload.readableBytes();
        FrameKind kind = frame.kind();
        if (size < kind.minPayload() || size > kind.maxPayload()) {
            throw new EncoderException(kind + " frame with " + size + " payload bytes, allowed "
                    + kind.minPayload() + ".." + kind.maxPayload());
        }
        if (frame.hasHeaderRoom()) {
            int start = payload.readerIndex() - Protocol.HEADER_LENGTH;
            payload.setByte(start, kind.code()).setInt(start + 1, frame.id()).setShort(start + 5, size);
            payload.readerIndex(start);
            out.add(payload.retain());
        } else if (size <= COPY_THRESHOLD) {
            ByteBuf buf = ctx.alloc().ioBuffer(Protocol.HEADER_LENGTH + size);
            writeHeader(buf, kind, frame.id(), size);
            buf.writeBytes(payload, payload.readerIndex(), size);
            out.add(buf);
        } else {
            ByteBuf header = ctx.alloc().ioBuffer(Protocol.HEADER_LENGTH);
            writeHeader(header, kind, frame.id(), size);
            out.add(header);
            out.add(payload.retain());
        }
    }

    private static void writeHeader(ByteBuf buf, FrameKind kind, int id, int size) {
        buf.writeByte(kind.code()).writeInt(id).writeShort(size);
    }
}
