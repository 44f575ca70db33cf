package io.diglett.server.link;

import io.diglett.protocol.Handshake;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.mux.HandlerNames;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.ssl.SslContext;
import java.util.List;

/**
 * First handler on a TLS gateway's agent link. A TLS handshake record (first byte 0x16) replaces this handler
 * with the {@link io.netty.handler.ssl.SslHandler}. Anything else is refused with a reason: an agent started
 * with {@code --plaintext} (first byte {@code d}) gets, once its handshake is in, a handshake answering its
 * version (so an agent of an older version it serves accepts it) and a Refuse telling it to drop the flag (so it
 * can say so to its user); other peers get an Error and the connection is closed. Decisions are sticky.
 */
public final class TlsDetector extends ByteToMessageDecoder {

    private static final int TLS_HANDSHAKE_RECORD = 0x16;

    private final SslContext context;
    private boolean failed;

    public TlsDetector(SslContext context) {
        this.context = context;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        if (!in.isReadable()) {
            return;
        }
        if (in.getUnsignedByte(in.readerIndex()) == TLS_HANDSHAKE_RECORD) {
            ctx.pipeline().replace(this, HandlerNames.TLS, context.newHandler(ctx.alloc()));
            return;
        }
        boolean plaintextAgent = in.getUnsignedByte(in.readerIndex()) == (Protocol.MAGIC >>> 24);
        if (plaintextAgent && in.readableBytes() < Protocol.HANDSHAKE_LENGTH) {
            return; // the version too, to answer in one the agent accepts (the handshake timeout bounds the wait)
        }
        failed = true;
        Handshake handshake = Handshake.peek(in);
        in.skipBytes(in.readableBytes());
        if (plaintextAgent) {
            int answer = handshake == null ? -1 : handshake.negotiate();
            ctx.writeAndFlush(Handshake.encode(ctx.alloc(), answer < 0 ? Protocol.VERSION : answer));
            throw ProtocolException.refusal("this gateway requires TLS: start the agent without --plaintext");
        }
        throw new ProtocolException("expected a TLS handshake from a diglett agent");
    }
}
