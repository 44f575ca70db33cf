package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/** The handshake each side sends first: magic, then the protocol version it speaks. */
public record Handshake(int version) {

    /** The bytes of our own handshake. */
    public static ByteBuf encode(ByteBufAllocator alloc) {
        return encode(alloc, Protocol.VERSION);
    }

    /** The bytes of a handshake for any version (tests use other versions). */
    public static ByteBuf encode(ByteBufAllocator alloc, int version) {
        return alloc.buffer(Protocol.HANDSHAKE_LENGTH).writeInt(Protocol.MAGIC).writeByte(version);
    }

    /** Whether the peer speaks our version. */
    public boolean compatible() {
        return version == Protocol.VERSION;
    }
}
