package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/**
 * The payloads of the kinds that are not requests (docs/protocol.md, section 3): the reason of Error, Close,
 * Terminate and Refuse ({@link Reason}), Window's increment ({@link WindowUpdate}), Ping's and Pong's opaque
 * bytes. Like {@link Requests}, each record encodes its frame and decodes one, checking the kind and the
 * payload's length first.
 */
public final class Signals {

    private Signals() {
    }

    /**
     * The reason of an Error, Close, Terminate or Refuse: UTF-8, possibly empty. A reason longer than a frame
     * carries is cut at a character boundary rather than refused: a reason must never fail to be sent.
     */
    public record Reason(String text) {

        public Reason {
            text = text == null ? "" : text;
        }

        /** A frame of {@code kind} (Error, Close, Terminate or Refuse) with this reason. */
        public Frame encode(ByteBufAllocator alloc, FrameKind kind, int id) {
            if (!carriesReason(kind)) {
                throw new IllegalArgumentException(kind + " carries no reason");
            }
            if (text.isEmpty()) {
                return new Frame(kind, id, Unpooled.EMPTY_BUFFER);
            }
            int max = kind.maxPayload();
            ByteBuf buf = alloc.buffer(Math.min(ByteBufUtil.utf8MaxBytes(text), max));
            int end = text.length();
            if (ByteBufUtil.utf8Bytes(text) > max) {
                end = 0;
                int bytes = 0;
                while (end < text.length()) {
                    int cp = text.codePointAt(end);
                    int len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
                    if (bytes + len > max) {
                        break;
                    }
                    bytes += len;
                    end += Character.charCount(cp);
                }
            }
            ByteBufUtil.writeUtf8(buf, text, 0, end);
            return new Frame(kind, id, buf);
        }

        /** The reason a peer sent, {@linkplain Printable escaped}: it reaches logs and terminals. */
        public static Reason decode(Frame frame) {
            if (!carriesReason(frame.kind())) {
                throw new IllegalArgumentException(frame.kind() + " carries no reason");
            }
            return new Reason(Printable.of(frame.checkedContent(frame.kind()).toString(StandardCharsets.UTF_8)));
        }

        private static boolean carriesReason(FrameKind kind) {
            return kind == FrameKind.ERROR || kind == FrameKind.CLOSE || kind == FrameKind.TERMINATE
                    || kind == FrameKind.REFUSE;
        }
    }

    /**
     * Notice (version 6, gateway to agent, id = registration): where one of the agent's names stands, for the agent's
     * status. A topic byte, then UTF-8 text, cut at a character boundary to fit. Nothing on either side depends on it.
     */
    public record Notice(int topic, String text) {

        /** The first version that has Notice: earlier agents are sent none. */
        public static final int SINCE = 6;
        /** The name's HTTPS certificate (ACME): pending, valid until a time, failed and why. */
        public static final int CERTIFICATE = 1;

        public Notice {
            if (topic < 0 || topic > 255) {
                throw new IllegalArgumentException("topic " + topic + " is not a byte");
            }
            text = text == null ? "" : text;
        }

        public Frame encode(ByteBufAllocator alloc, int registration) {
            int max = FrameKind.NOTICE.maxPayload() - 1;
            String fitted = text;
            if (fitted.codePointCount(0, fitted.length()) > max) {
                fitted = fitted.substring(0, fitted.offsetByCodePoints(0, max));
            }
            while (ByteBufUtil.utf8Bytes(fitted) > max) {
                int cut = fitted.offsetByCodePoints(fitted.length(), -1);
                fitted = fitted.substring(0, cut);
            }
            ByteBuf buf = alloc.buffer(1 + ByteBufUtil.utf8Bytes(fitted));
            buf.writeByte(topic);
            ByteBufUtil.writeUtf8(buf, fitted);
            return new Frame(FrameKind.NOTICE, registration, buf);
        }

        /** The notice a gateway sent, its text {@linkplain Printable escaped}: it reaches logs and terminals. */
        public static Notice decode(Frame frame) {
            ByteBuf payload = frame.checkedContent(FrameKind.NOTICE);
            int start = payload.readerIndex();
            return new Notice(payload.getUnsignedByte(start), Printable.of(payload.toString(start + 1,
                    payload.readableBytes() - 1, StandardCharsets.UTF_8)));
        }
    }

    /**
     * Window (both directions, id = stream): the credit returned, 4 bytes. The increment is read, not judged: the
     * stream checks it against its credit. {@link #increment(Frame)} reads it without allocating, for the data path.
     */
    public record WindowUpdate(int increment) {

        public Frame encode(ByteBufAllocator alloc, int stream) {
            return encode(alloc, stream, increment);
        }

        public static Frame encode(ByteBufAllocator alloc, int stream, int increment) {
            return new Frame(FrameKind.WINDOW, stream, alloc.buffer(4).writeInt(increment));
        }

        /** The increment of a Window frame, as {@link #decode} reads it, without a record. */
        public static int increment(Frame frame) {
            ByteBuf payload = frame.checkedContent(FrameKind.WINDOW);
            return payload.getInt(payload.readerIndex()); // the size range of WINDOW is exactly 4
        }

        public static WindowUpdate decode(Frame frame) {
            return new WindowUpdate(increment(frame));
        }
    }

    /** Ping (both directions, id 0): 8 opaque bytes, answered by a Pong with the same bytes. */
    public record Ping(long opaque) {

        public Frame encode(ByteBufAllocator alloc) {
            return new Frame(FrameKind.PING, Protocol.CONNECTION_ID, alloc.buffer(8).writeLong(opaque));
        }

        /** The Pong that answers this Ping. */
        public Pong answer() {
            return new Pong(opaque);
        }

        public static Ping decode(Frame frame) {
            ByteBuf payload = frame.checkedContent(FrameKind.PING);
            return new Ping(payload.getLong(payload.readerIndex())); // the size range of PING is exactly 8
        }
    }

    /** Pong (both directions, id 0): the 8 bytes of the Ping it answers. */
    public record Pong(long opaque) {

        public Frame encode(ByteBufAllocator alloc) {
            return new Frame(FrameKind.PONG, Protocol.CONNECTION_ID, alloc.buffer(8).writeLong(opaque));
        }

        public static Pong decode(Frame frame) {
            ByteBuf payload = frame.checkedContent(FrameKind.PONG);
            return new Pong(payload.getLong(payload.readerIndex()));
        }
    }
}
