package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.DefaultByteBufHolder;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * One frame: kind, id and payload. The frame owns its payload; whoever holds a frame releases it (or passes
 * it on). The payload layouts of {@code docs/protocol.md} are the records of {@link Requests} and {@link Signals},
 * which encode and decode them; the factories here are shorthands for them (Open has none: its layout depends on
 * the link's version, see {@link Requests.Open#encode}).
 */
public final class Frame extends DefaultByteBufHolder {

    private final FrameKind kind;
    private final int id;
    /** The payload's first {@link Protocol#HEADER_LENGTH} bytes before its reader index are free for the header. */
    private final boolean headerRoom;

    public Frame(FrameKind kind, int id, ByteBuf payload) {
        this(kind, id, payload, false);
    }

    private Frame(FrameKind kind, int id, ByteBuf payload, boolean headerRoom) {
        super(payload);
        this.kind = kind;
        this.id = id;
        this.headerRoom = headerRoom;
    }

    /**
     * Whether the payload buffer has {@link Protocol#HEADER_LENGTH} unused bytes of its own in front of its reader
     * index, where {@link FrameEncoder} may write the header to send header and payload as one buffer.
     */
    public boolean hasHeaderRoom() {
        return headerRoom;
    }

    public FrameKind kind() {
        return kind;
    }

    /** The id, an unsigned 32-bit value carried in a signed int. */
    public int id() {
        return id;
    }

    /** The payload decoded as UTF-8, unchecked, for logs and tests: sessions read payloads with the typed decoders. */
    public String text() {
        return content().toString(StandardCharsets.UTF_8);
    }

    @Override
    public Frame replace(ByteBuf content) {
        return new Frame(kind, id, content);
    }

    @Override
    public Frame retain() {
        super.retain();
        return this;
    }

    @Override
    public Frame touch(Object hint) {
        super.touch(hint);
        return this;
    }

    @Override
    public String toString() {
        return kind + "(id=" + Integer.toUnsignedString(id) + ", size=" + content().readableBytes() + ")";
    }

    /**
     * The payload, for a decoder of {@code expected}'s layout ({@link Requests}, {@link Signals}): this frame must be
     * of that kind (else the caller dispatched it wrongly: {@link IllegalArgumentException}) and its size within the
     * kind's range, as {@link FrameDecoder} checks for every frame off the wire.
     */
    ByteBuf checkedContent(FrameKind expected) {
        if (kind != expected) {
            throw new IllegalArgumentException("a " + kind + " frame, not " + expected);
        }
        ByteBuf payload = content();
        int size = payload.readableBytes();
        if (size < kind.minPayload() || size > kind.maxPayload()) {
            throw new ProtocolException(kind + " frame with " + size + " payload bytes, allowed " + kind.minPayload()
                    + ".." + kind.maxPayload());
        }
        return payload;
    }

    // ---- shorthands: one per message; the payload layouts are the records of Requests and Signals ----

    public static Frame ok(int id) {
        return new Frame(FrameKind.OK, id, Unpooled.EMPTY_BUFFER);
    }

    /** Ok to a Register: the public port bound for the registration. */
    public static Frame registered(ByteBufAllocator alloc, int registration, int port) {
        return registered(alloc, registration, port, List.of());
    }

    /** Ok to a Register: the public port, then the name's public URLs (one per line). */
    public static Frame registered(ByteBufAllocator alloc, int registration, int port, List<String> urls) {
        return new Requests.Registered(port, urls).encode(alloc, registration);
    }

    /** Ok to an Open: the agent's receive window for the stream. */
    public static Frame opened(ByteBufAllocator alloc, int stream, int window) {
        return new Requests.Opened(window).encode(alloc, stream);
    }

    public static Frame error(ByteBufAllocator alloc, int id, String message) {
        return new Signals.Reason(message).encode(alloc, FrameKind.ERROR, id);
    }

    /** The gateway refuses the agent for good; the connection closes after it. */
    public static Frame refuse(ByteBufAllocator alloc, String reason) {
        return new Signals.Reason(reason).encode(alloc, FrameKind.REFUSE, Protocol.CONNECTION_ID);
    }

    /** Login without an instance id (the layout of every version). */
    public static Frame login(ByteBufAllocator alloc, String token) {
        return new Requests.Login(token).encode(alloc);
    }

    public static Frame register(ByteBufAllocator alloc, int registration, String name) {
        return register(alloc, registration, name, 0);
    }

    /** Register with flags ({@link Requests#FLAG_TLS_PASSTHROUGH}); no flags means the plain name. */
    public static Frame register(ByteBufAllocator alloc, int registration, String name, int flags) {
        return new Requests.Register(name, flags).encode(alloc, registration);
    }

    public static Frame finishRegister() {
        return new Frame(FrameKind.FINISH_REGISTER, Protocol.CONNECTION_ID, Unpooled.EMPTY_BUFFER);
    }

    public static Frame payload(int stream, ByteBuf data) {
        return new Frame(FrameKind.PAYLOAD, stream, data);
    }

    /**
     * Payload whose buffer has {@link Protocol#HEADER_LENGTH} free bytes of its own before its reader index (a
     * stream socket's read buffer, see {@code StreamReads}): the encoder writes the header there.
     */
    public static Frame payloadWithHeaderRoom(int stream, ByteBuf data) {
        if (data.readerIndex() < Protocol.HEADER_LENGTH) {
            throw new IllegalArgumentException("no room for a header before index " + data.readerIndex());
        }
        return new Frame(FrameKind.PAYLOAD, stream, data, true);
    }

    public static Frame close(ByteBufAllocator alloc, int stream, String reason) {
        return new Signals.Reason(reason).encode(alloc, FrameKind.CLOSE, stream);
    }

    public static Frame terminate(ByteBufAllocator alloc, String reason) {
        return new Signals.Reason(reason).encode(alloc, FrameKind.TERMINATE, Protocol.CONNECTION_ID);
    }

    public static Frame window(ByteBufAllocator alloc, int stream, int increment) {
        return Signals.WindowUpdate.encode(alloc, stream, increment);
    }

    public static Frame fin(int stream) {
        return new Frame(FrameKind.FIN, stream, Unpooled.EMPTY_BUFFER);
    }

    public static Frame ping(ByteBufAllocator alloc, long opaque) {
        return new Signals.Ping(opaque).encode(alloc);
    }

    public static Frame pong(ByteBufAllocator alloc, long opaque) {
        return new Signals.Pong(opaque).encode(alloc);
    }
}
