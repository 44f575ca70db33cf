package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.DefaultByteBufHolder;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/**
 * One frame: kind, id and payload. The frame owns its payload; whoever holds a frame releases it (or passes
 * it on). Factories build each kind with its payload layout from {@code docs/protocol.md}.
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

    /** The payload decoded as UTF-8 (for Error, Close, Terminate, Login, Register). */
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

    // ---- factories, one per message ----

    public static Frame ok(int id) {
        return new Frame(FrameKind.OK, id, Unpooled.EMPTY_BUFFER);
    }

    /** Ok to a Register: the public port bound for the registration. */
    public static Frame registered(ByteBufAllocator alloc, int registration, int port) {
        return registered(alloc, registration, port, java.util.List.of());
    }

    /** Ok to a Register: the public port, then the name's public URLs (one per line). */
    public static Frame registered(ByteBufAllocator alloc, int registration, int port, java.util.List<String> urls) {
        ByteBuf buf = alloc.buffer(2 + 64);
        try {
            Requests.writeRegistered(buf, port, urls, FrameKind.OK.maxPayload());
        } catch (RuntimeException e) {
            buf.release();
            throw e;
        }
        return new Frame(FrameKind.OK, registration, buf);
    }

    /** Ok to an Open: the agent's receive window for the stream. */
    public static Frame opened(ByteBufAllocator alloc, int stream, int window) {
        return new Frame(FrameKind.OK, stream, alloc.buffer(4).writeInt(window));
    }

    public static Frame error(ByteBufAllocator alloc, int id, String message) {
        return new Frame(FrameKind.ERROR, id, utf8(alloc, message, FrameKind.ERROR.maxPayload()));
    }

    /** The gateway refuses the agent for good; the connection closes after it. */
    public static Frame refuse(ByteBufAllocator alloc, String reason) {
        return new Frame(FrameKind.REFUSE, Protocol.CONNECTION_ID, utf8(alloc, reason, FrameKind.REFUSE.maxPayload()));
    }

    public static Frame login(ByteBufAllocator alloc, String token) {
        return new Frame(FrameKind.LOGIN, Protocol.CONNECTION_ID, utf8(alloc, token, Integer.MAX_VALUE));
    }

    public static Frame register(ByteBufAllocator alloc, int registration, String name) {
        return register(alloc, registration, name, 0);
    }

    /** Register with flags ({@link Requests#FLAG_TLS_PASSTHROUGH}); no flags means the plain name. */
    public static Frame register(ByteBufAllocator alloc, int registration, String name, int flags) {
        ByteBuf buf = alloc.buffer(name.length() + 2);
        Requests.writeRegister(buf, name, flags);
        return new Frame(FrameKind.REGISTER, registration, buf);
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
        return new Frame(FrameKind.CLOSE, stream, utf8(alloc, reason, FrameKind.CLOSE.maxPayload()));
    }

    public static Frame terminate(ByteBufAllocator alloc, String reason) {
        return new Frame(FrameKind.TERMINATE, Protocol.CONNECTION_ID,
                utf8(alloc, reason, FrameKind.TERMINATE.maxPayload()));
    }

    /** Open with the client's address and the gateway address it connected to ({@link Requests#address}). */
    public static Frame open(ByteBufAllocator alloc, int stream, int registration, int window, String client,
                             String server) {
        String from = client == null ? "unknown" : client;
        return open(alloc, stream, registration, window, server == null ? from : from + " " + server);
    }

    public static Frame open(ByteBufAllocator alloc, int stream, int registration, int window, String client) {
        ByteBuf buf = alloc.buffer(8 + 32);
        buf.writeInt(registration).writeInt(window);
        writeUtf8Truncated(buf, client, FrameKind.OPEN.maxPayload() - 8);
        return new Frame(FrameKind.OPEN, stream, buf);
    }

    public static Frame window(ByteBufAllocator alloc, int stream, int increment) {
        return new Frame(FrameKind.WINDOW, stream, alloc.buffer(4).writeInt(increment));
    }

    public static Frame fin(int stream) {
        return new Frame(FrameKind.FIN, stream, Unpooled.EMPTY_BUFFER);
    }

    public static Frame ping(ByteBufAllocator alloc, long opaque) {
        return new Frame(FrameKind.PING, Protocol.CONNECTION_ID, alloc.buffer(8).writeLong(opaque));
    }

    public static Frame pong(ByteBufAllocator alloc, long opaque) {
        return new Frame(FrameKind.PONG, Protocol.CONNECTION_ID, alloc.buffer(8).writeLong(opaque));
    }

    /**
     * UTF-8 bytes of {@code text}, cut to at most {@code max} bytes at a character boundary. Messages that
     * would not fit a frame are shortened rather than refused: a reason must never fail to be sent.
     */
    private static ByteBuf utf8(ByteBufAllocator alloc, String text, int max) {
        if (text == null || text.isEmpty()) {
            return Unpooled.EMPTY_BUFFER;
        }
        ByteBuf buf = alloc.buffer(Math.min(ByteBufUtil.utf8MaxBytes(text), Math.min(max, Protocol.MAX_PAYLOAD)));
        writeUtf8Truncated(buf, text, max);
        return buf;
    }

    private static void writeUtf8Truncated(ByteBuf buf, String text, int max) {
        if (text == null || text.isEmpty()) {
            return;
        }
        if (ByteBufUtil.utf8Bytes(text) <= max) {
            ByteBufUtil.writeUtf8(buf, text);
            return;
        }
        int bytes = 0;
        int end = 0;
        while (end < text.length()) {
            int cp = text.codePointAt(end);
            int len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (bytes + len > max) {
                break;
            }
            bytes += len;
            end += Character.charCount(cp);
        }
        ByteBufUtil.writeUtf8(buf, text, 0, end);
    }
}
