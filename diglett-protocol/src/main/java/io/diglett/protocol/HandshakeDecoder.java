package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Reads the peer's 5-byte handshake, emits a {@link Handshake} and removes itself; bytes that follow go on
 * to the {@link FrameDecoder}. A wrong magic byte fails at the first byte that differs: the peer does not
 * speak Diglett at all (an HTTP request, a TLS ClientHello, a port scanner). The failure is sticky: the
 * decoder stays in place and discards everything after it, so nothing reaches the frame decoder.
 */
public final class HandshakeDecoder extends ByteToMessageDecoder {

    private boolean failed;

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        int available = Math.min(4, in.readableBytes());
        for (int i = 0; i < available; i++) {
            int expected = (Protocol.MAGIC >>> (24 - 8 * i)) & 0xFF;
            int actual = in.getUnsignedByte(in.readerIndex() + i);
            if (actual != expected) {
                failed = true;
                String seen = describe(in);
                in.skipBytes(in.readableBytes());
                throw new ProtocolException("not a diglett peer: expected magic 'digl', got " + seen);
            }
        }
        if (in.readableBytes() < Protocol.HANDSHAKE_LENGTH) {
            return;
        }
        in.skipBytes(4);
        out.add(new Handshake(in.readUnsignedByte()));
        ctx.pipeline().remove(this);
    }

    /** The first bytes the peer sent, printable, for the log line. */
    private static String describe(ByteBuf in) {
        int n = Math.min(8, in.readableBytes());
        StringBuilder sb = new StringBuilder("'");
        for (int i = 0; i < n; i++) {
            int b = in.getUnsignedByte(in.readerIndex() + i);
            if (b >= 0x20 && b < 0x7f) {
                sb.append((char) b);
            } else {
                sb.append(String.format("\\x%02x", b));
            }
        }
        return sb.append('\'').toString();
    }
}
