package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * The handshake each side sends first: magic, then a protocol version. The agent sends the version it speaks;
 * the gateway answers with the version the link runs ({@link #negotiate}), which the agent checks
 * ({@link #compatible}).
 */
public record Handshake(int version) {

    /** The bytes of our own handshake. */
    public static ByteBuf encode(ByteBufAllocator alloc) {
        return encode(alloc, Protocol.VERSION);
    }

    /** The bytes of a handshake for any version: the gateway's answer, and other versions in tests. */
    public static ByteBuf encode(ByteBufAllocator alloc, int version) {
        return alloc.buffer(Protocol.HANDSHAKE_LENGTH).writeInt(Protocol.MAGIC).writeByte(version);
    }

    /**
     * The handshake at {@code in}'s reader index, left unread, for a handler in front of {@link HandshakeDecoder}
     * (the TLS detector); {@code null} if fewer than {@link Protocol#HANDSHAKE_LENGTH} bytes are there or they do
     * not start with the magic.
     */
    public static Handshake peek(ByteBuf in) {
        if (in.readableBytes() < Protocol.HANDSHAKE_LENGTH || in.getInt(in.readerIndex()) != Protocol.MAGIC) {
            return null;
        }
        return new Handshake(in.getUnsignedByte(in.readerIndex() + 4));
    }

    /**
     * The agent's check of the gateway's answer: whether the link runs a version this agent speaks, its own or,
     * from an older gateway, {@link Protocol#OLDEST_GATEWAY_VERSION} or later (with one link).
     */
    public boolean compatible() {
        return version >= Protocol.OLDEST_GATEWAY_VERSION && version <= Protocol.VERSION;
    }

    /**
     * The gateway's side, this being the agent's handshake: the version the link runs, the newest both speak
     * (the agent's own when the gateway serves it, else {@link Protocol#VERSION} for a newer agent, which then
     * speaks that version or gives up); -1 when the agent's version is older than {@link
     * Protocol#OLDEST_SERVED_VERSION}.
     */
    public int negotiate() {
        return version < Protocol.OLDEST_SERVED_VERSION ? -1 : Math.min(version, Protocol.VERSION);
    }
}
