package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.UUID;

/**
 * The requests of a link and their answers as typed payloads (docs/protocol.md, section 3): {@link Login},
 * {@link Register} and its Ok ({@link Registered}), {@link Open} and its Ok ({@link Opened}). Each record encodes
 * its frame and decodes one; a decoder checks the frame's kind, then the payload's length against the layout
 * before it reads or allocates anything, and throws a {@link ProtocolException} saying what is wrong. The other
 * kinds' payloads are in {@link Signals}; Ok to Login and to FinishRegister, FinishRegister and Fin are empty,
 * and Payload is stream data, which is never wrapped.
 */
public final class Requests {

    /** Register flag: on the gateway's HTTPS ingress, forward this name's TLS untouched (the backend terminates). */
    public static final int FLAG_TLS_PASSTHROUGH = 0x01;
    /**
     * Register flag: give this name a raw public port even though the gateway serves it on its ingress (without an
     * ingress every name has one). Gateways before it refuse it as an unknown flag.
     */
    public static final int FLAG_RAW_PORT = 0x02;
    /** Every flag this version defines; others are refused. */
    public static final int KNOWN_FLAGS = FLAG_TLS_PASSTHROUGH | FLAG_RAW_PORT;

    private Requests() {
    }

    /**
     * Login (agent to gateway, id 0): the agent's token, UTF-8, possibly empty; from version 4 optionally followed by
     * {@code 0x00} and the agent's 16-byte instance id ({@code instance}, {@code null} when absent). The instance id
     * is random, made once per agent process: a gateway hands a name over at once to a link of the same token and
     * instance (the same agent reconnecting), and only to that. Before version 4 the whole payload is the token.
     */
    public record Login(String token, UUID instance) {

        /** First version whose Login may carry the agent's instance id. */
        public static final int INSTANCE_SINCE = 4;
        /** Bytes the instance id adds after the token: {@code 0x00} and 16 bytes. */
        public static final int INSTANCE_BYTES = 1 + 16;

        public Login {
            Objects.requireNonNull(token, "token");
        }

        /** A Login without an instance id. */
        public Login(String token) {
            this(token, null);
        }

        /** A random instance id: 16 bytes from a {@link SecureRandom}, for one agent process. */
        public static UUID newInstance() {
            SecureRandom random = new SecureRandom();
            return new UUID(random.nextLong(), random.nextLong());
        }

        /** The frame in the layout of versions 2 and 3 (the token alone); there is no instance id to send. */
        public Frame encode(ByteBufAllocator alloc) {
            if (instance != null) {
                throw new IllegalArgumentException("a Login of version 2 or 3 carries no instance id");
            }
            return encode(alloc, INSTANCE_SINCE - 1);
        }

        /**
         * The frame for a link of {@code version}; the instance id goes out only from version 4.
         *
         * @throws IllegalArgumentException if the token is longer than a Login frame carries (1,024 bytes, less
         *                                  {@link #INSTANCE_BYTES} with an instance id) or, from version 4, holds a
         *                                  NUL character (the separator)
         */
        public Frame encode(ByteBufAllocator alloc, int version) {
            boolean withInstance = instance != null && version >= INSTANCE_SINCE;
            if (version >= INSTANCE_SINCE && token.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("a token must not contain a NUL character");
            }
            int bytes = ByteBufUtil.utf8Bytes(token);
            int max = FrameKind.LOGIN.maxPayload() - (withInstance ? INSTANCE_BYTES : 0);
            if (bytes > max) {
                throw new IllegalArgumentException("a token of " + bytes + " bytes does not fit a Login frame (at most "
                        + max + ")");
            }
            if (bytes == 0 && !withInstance) {
                return new Frame(FrameKind.LOGIN, Protocol.CONNECTION_ID, Unpooled.EMPTY_BUFFER);
            }
            ByteBuf buf = alloc.buffer(bytes + (withInstance ? INSTANCE_BYTES : 0));
            ByteBufUtil.writeUtf8(buf, token);
            if (withInstance) {
                buf.writeByte(0).writeLong(instance.getMostSignificantBits())
                        .writeLong(instance.getLeastSignificantBits());
            }
            return new Frame(FrameKind.LOGIN, Protocol.CONNECTION_ID, buf);
        }

        /** A Login of this version (4): the token, then optionally the instance id. */
        public static Login decode(Frame frame) {
            return decode(frame, Protocol.VERSION);
        }

        /**
         * A Login of a link of {@code version}. From version 4, a {@code 0x00} not followed by exactly 16 bytes is a
         * protocol error.
         */
        public static Login decode(Frame frame, int version) {
            ByteBuf payload = frame.checkedContent(FrameKind.LOGIN);
            int start = payload.readerIndex();
            int end = payload.writerIndex();
            int nul = version >= INSTANCE_SINCE ? payload.indexOf(start, end, (byte) 0) : -1;
            if (nul < 0) {
                return new Login(payload.toString(start, end - start, StandardCharsets.UTF_8), null);
            }
            if (end - nul != INSTANCE_BYTES) {
                throw new ProtocolException("Login's instance id must be one 0x00 byte and 16 bytes, got "
                        + (end - nul) + " bytes after the token");
            }
            return new Login(payload.toString(start, nul - start, StandardCharsets.UTF_8),
                    new UUID(payload.getLong(nul + 1), payload.getLong(nul + 9)));
        }
    }

    /**
     * Register (agent to gateway, id = registration): the name, then optionally {@code 0x00} and a flags byte
     * (0 when absent). The name is not validated here: the gateway answers a bad one with a request error.
     */
    public record Register(String name, int flags) {

        public Register {
            Objects.requireNonNull(name, "name");
            if (flags < 0 || flags > 0xFF) {
                throw new IllegalArgumentException("flags 0x" + Integer.toHexString(flags) + " do not fit a byte");
            }
        }

        public boolean tlsPassthrough() {
            return (flags & FLAG_TLS_PASSTHROUGH) != 0;
        }

        public boolean rawPort() {
            return (flags & FLAG_RAW_PORT) != 0;
        }

        public Frame encode(ByteBufAllocator alloc, int registration) {
            ByteBuf buf = alloc.buffer(name.length() + 2);
            buf.writeCharSequence(name, StandardCharsets.US_ASCII);
            if (flags != 0) {
                buf.writeByte(0).writeByte(flags);
            }
            return new Frame(FrameKind.REGISTER, registration, buf);
        }

        /** A malformed options part (a {@code 0x00} not followed by exactly one byte) is a protocol error. */
        public static Register decode(Frame frame) {
            ByteBuf payload = frame.checkedContent(FrameKind.REGISTER);
            int start = payload.readerIndex();
            int end = payload.writerIndex();
            int nul = payload.indexOf(start, end, (byte) 0);
            if (nul < 0) {
                return new Register(payload.toString(start, end - start, StandardCharsets.UTF_8), 0);
            }
            if (end - nul != 2) {
                throw new ProtocolException("Register options must be one 0x00 byte and one flags byte, got "
                        + (end - nul) + " bytes after the name");
            }
            return new Register(payload.toString(start, nul - start, StandardCharsets.UTF_8),
                    payload.getUnsignedByte(nul + 1));
        }
    }

    /**
     * Ok to a Register (gateway to agent, id = registration): the public port (2; 0 when the name has no raw port,
     * only its URLs), then URLs one per line.
     */
    public record Registered(int port, List<String> urls) {

        public Registered {
            if (port < 0 || port > 0xFFFF) {
                throw new IllegalArgumentException("port " + port + " is out of range 0-65535");
            }
            urls = List.copyOf(urls);
        }

        /** @throws IllegalArgumentException if the URLs do not fit an Ok frame (1,024 bytes with the port) */
        public Frame encode(ByteBufAllocator alloc, int registration) {
            String text = String.join("\n", urls);
            int bytes = ByteBufUtil.utf8Bytes(text);
            if (bytes > FrameKind.OK.maxPayload() - 2) {
                throw new IllegalArgumentException("public URLs do not fit an Ok frame: " + text);
            }
            ByteBuf buf = alloc.buffer(2 + bytes);
            buf.writeShort(port);
            ByteBufUtil.writeUtf8(buf, text);
            return new Frame(FrameKind.OK, registration, buf);
        }

        /**
         * Empty lines are skipped: the URLs of a name with no ingress are no URLs, not one empty one. Each URL is
         * {@linkplain Printable escaped}: the agent logs and shows them.
         */
        public static Registered decode(Frame frame) {
            ByteBuf payload = frame.checkedContent(FrameKind.OK);
            if (payload.readableBytes() < 2) {
                throw new ProtocolException("Ok to a Register must carry the 2-byte public port, got "
                        + payload.readableBytes() + " bytes");
            }
            int start = payload.readerIndex();
            List<String> urls = new ArrayList<>();
            String text = payload.toString(start + 2, payload.readableBytes() - 2, StandardCharsets.UTF_8);
            for (String url : text.split("\n")) {
                if (!url.isEmpty()) {
                    urls.add(Printable.of(url));
                }
            }
            return new Registered(payload.getUnsignedShort(start), urls);
        }
    }

    /**
     * Open (gateway to agent, id = the new stream): the registration the public client came in on, the gateway's
     * receive window for the stream, the client's address and the gateway address it connected to. An address is
     * {@code null} when unknown (not an IP socket). The layout depends on the link's version (docs/protocol.md,
     * sections 3 and 9): version 3 has binary address fields, version 2 had one text.
     */
    public record Open(int registration, int window, InetSocketAddress client, InetSocketAddress destination) {

        /** First version whose Open carries binary address fields; version 2 carried one text. */
        public static final int ADDRESS_FIELDS_SINCE = 3;
        /** Address family byte: no address follows. */
        public static final int FAMILY_UNKNOWN = 0;
        /** Address family byte: 4 address bytes and a 2-byte port follow. */
        public static final int FAMILY_IPV4 = 4;
        /** Address family byte: 16 address bytes and a 2-byte port follow. */
        public static final int FAMILY_IPV6 = 6;
        /** Smallest version-3 payload: registration, window, two unknown addresses. */
        public static final int MIN_LENGTH = 8 + 1 + 1;
        /** Largest version-3 payload: registration, window, two IPv6 addresses with ports. */
        public static final int MAX_LENGTH = 8 + 2 * (1 + 16 + 2);

        public Open {
            if (client != null && client.getAddress() == null
                    || destination != null && destination.getAddress() == null) {
                throw new IllegalArgumentException("Open addresses are IP addresses, got " + client + " and "
                        + destination);
            }
        }

        /** An Open for a connection's addresses; one that is not an IP socket (a test's channel) is unknown. */
        public static Open of(int registration, int window, SocketAddress client, SocketAddress destination) {
            return new Open(registration, window, ip(client), ip(destination));
        }

        private static InetSocketAddress ip(SocketAddress address) {
            return address instanceof InetSocketAddress inet && inet.getAddress() != null ? inet : null;
        }

        /** The frame for a link of {@code version}, in that version's layout. */
        public Frame encode(ByteBufAllocator alloc, int stream, int version) {
            if (version < Protocol.OLDEST_SERVED_VERSION || version > Protocol.VERSION) {
                throw new IllegalArgumentException("no Open layout for protocol version " + version);
            }
            ByteBuf buf = alloc.buffer(version >= ADDRESS_FIELDS_SINCE ? MAX_LENGTH : 8 + 96);
            buf.writeInt(registration).writeInt(window);
            if (version >= ADDRESS_FIELDS_SINCE) {
                writeAddress(buf, client);
                writeAddress(buf, destination);
            } else {
                // version 2: "client server" (IPv6 in brackets), "unknown" for an unknown client, no server if
                // unknown; at most 95 bytes, within the 255 that layout allows
                String from = client == null ? "unknown" : address(client);
                buf.writeCharSequence(destination == null ? from : from + " " + address(destination),
                        StandardCharsets.US_ASCII);
            }
            return new Frame(FrameKind.OPEN, stream, buf);
        }

        private static void writeAddress(ByteBuf buf, InetSocketAddress address) {
            if (address == null) {
                buf.writeByte(FAMILY_UNKNOWN);
                return;
            }
            byte[] ip = address.getAddress().getAddress(); // 4 or 16 bytes; an IPv6 scope is not sent
            buf.writeByte(ip.length == 4 ? FAMILY_IPV4 : FAMILY_IPV6).writeBytes(ip).writeShort(address.getPort());
        }

        /**
         * Reads a version-3 Open, the only layout an agent of this version receives. The window must be at least
         * {@link Protocol#MIN_WINDOW}; the payload must end right after the destination address.
         */
        public static Open decode(Frame frame) {
            ByteBuf payload = frame.checkedContent(FrameKind.OPEN);
            int start = payload.readerIndex();
            int end = payload.writerIndex();
            if (end - start < MIN_LENGTH || end - start > MAX_LENGTH) {
                throw new ProtocolException("Open payload of " + (end - start) + " bytes, a version-3 Open has "
                        + MIN_LENGTH + ".." + MAX_LENGTH);
            }
            int registration = payload.getInt(start);
            int window = payload.getInt(start + 4);
            if (window < Protocol.MIN_WINDOW) {
                throw new ProtocolException("Open with window " + Integer.toUnsignedString(window) + " below "
                        + Protocol.MIN_WINDOW);
            }
            int clientAt = start + 8;
            int destinationAt = addressEnd(payload, clientAt, end, "client");
            int after = addressEnd(payload, destinationAt, end, "destination");
            if (after != end) {
                throw new ProtocolException("Open has " + (end - after) + " bytes after its addresses");
            }
            return new Open(registration, window, readAddress(payload, clientAt), readAddress(payload, destinationAt));
        }

        /** Checks the address at {@code at} (family byte and what that family needs) and returns where it ends. */
        private static int addressEnd(ByteBuf payload, int at, int end, String which) {
            if (at >= end) {
                throw new ProtocolException("Open ends before its " + which + " address");
            }
            int family = payload.getUnsignedByte(at);
            int length = switch (family) {
                case FAMILY_UNKNOWN -> 0;
                case FAMILY_IPV4 -> 4 + 2;
                case FAMILY_IPV6 -> 16 + 2;
                default -> throw new ProtocolException("Open " + which + " address of unknown family 0x"
                        + Integer.toHexString(family));
            };
            if (end - at - 1 < length) {
                throw new ProtocolException("Open " + which + " address of family " + family + " needs " + length
                        + " bytes, " + (end - at - 1) + " left");
            }
            return at + 1 + length;
        }

        /** The address {@link #addressEnd} checked; an IPv4-mapped IPv6 address reads as IPv4. */
        private static InetSocketAddress readAddress(ByteBuf payload, int at) {
            int family = payload.getUnsignedByte(at);
            if (family == FAMILY_UNKNOWN) {
                return null;
            }
            byte[] ip = new byte[family == FAMILY_IPV4 ? 4 : 16];
            payload.getBytes(at + 1, ip);
            try {
                int port = payload.getUnsignedShort(at + 1 + ip.length);
                return new InetSocketAddress(InetAddress.getByAddress(ip), port);
            } catch (UnknownHostException e) {
                throw new IllegalStateException("4 or 16 bytes are an IP address", e); // getByAddress: bad length only
            }
        }
    }

    /** Ok to an Open (agent to gateway, id = stream): the agent's receive window for the stream (4). */
    public record Opened(int window) {

        public Frame encode(ByteBufAllocator alloc, int stream) {
            return new Frame(FrameKind.OK, stream, alloc.buffer(4).writeInt(window));
        }

        /** The window is read, not judged: the stream checks it against the minimum when it opens. */
        public static Opened decode(Frame frame) {
            ByteBuf payload = frame.checkedContent(FrameKind.OK);
            if (payload.readableBytes() != 4) {
                throw new ProtocolException("Ok for stream " + Integer.toUnsignedString(frame.id())
                        + " must carry a 4-byte window, got " + payload.readableBytes() + " bytes");
            }
            return new Opened(payload.getInt(payload.readerIndex()));
        }
    }

    /** {@code ip:port}, an IPv6 address in brackets; {@code null} for anything that is not an IP socket. */
    public static String address(SocketAddress address) {
        if (!(address instanceof InetSocketAddress inet) || inet.getAddress() == null) {
            return null;
        }
        String ip = inet.getAddress().getHostAddress();
        int zone = ip.indexOf('%');
        if (zone >= 0) {
            ip = ip.substring(0, zone);
        }
        return (ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip) + ":" + inet.getPort();
    }
}
