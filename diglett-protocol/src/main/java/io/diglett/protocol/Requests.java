package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The structured payloads of Register, Ok-to-Register and Open (docs/protocol.md, section 3): their layouts in
 * one place, for the encoder side ({@link Frame}'s factories) and the decoder side (the sessions).
 */
public final class Requests {

    /** Register flag: on the gateway's HTTPS ingress, forward this name's TLS untouched (the backend terminates). */
    public static final int FLAG_TLS_PASSTHROUGH = 0x01;
    /** Every flag this version defines; others are refused. */
    public static final int KNOWN_FLAGS = FLAG_TLS_PASSTHROUGH;

    private Requests() {
    }

    /** A Register payload: the name, and the flags byte (0 when absent). */
    public record Register(String name, int flags) {
        public boolean tlsPassthrough() {
            return (flags & FLAG_TLS_PASSTHROUGH) != 0;
        }
    }

    /** An Ok to a Register: the public port and the public URLs of the name (may be empty). */
    public record Registered(int port, List<String> urls) {
        public Registered {
            urls = List.copyOf(urls);
        }
    }

    /** An Open's addresses: the public client, and the gateway address it connected to (may be null). */
    public record Addresses(String client, String server) {
    }

    static void writeRegister(ByteBuf buf, String name, int flags) {
        buf.writeCharSequence(name, StandardCharsets.US_ASCII);
        if (flags != 0) {
            buf.writeByte(0).writeByte(flags);
        }
    }

    /**
     * Reads a Register payload: {@code name} or {@code name 0x00 flags}. The name is not validated here (the
     * gateway answers a bad one with a request error); a malformed options part is a protocol error.
     */
    public static Register register(ByteBuf payload) {
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

    static void writeRegistered(ByteBuf buf, int port, List<String> urls, int max) {
        buf.writeShort(port);
        StringBuilder text = new StringBuilder();
        for (String url : urls) {
            if (text.length() > 0) {
                text.append('\n');
            }
            text.append(url);
        }
        if (ByteBufUtil.utf8Bytes(text) > max - 2) {
            throw new IllegalArgumentException("public URLs do not fit an Ok frame: " + text);
        }
        ByteBufUtil.writeUtf8(buf, text);
    }

    /** Reads an Ok to a Register: port (2), then URLs separated by line feeds. */
    public static Registered registered(ByteBuf payload) {
        if (payload.readableBytes() < 2) {
            throw new ProtocolException("Ok to a Register must carry the 2-byte public port");
        }
        int start = payload.readerIndex();
        int port = payload.getUnsignedShort(start);
        List<String> urls = new ArrayList<>();
        String text = payload.toString(start + 2, payload.readableBytes() - 2, StandardCharsets.UTF_8);
        for (String url : text.split("\n")) {
            if (!url.isEmpty()) {
                urls.add(url);
            }
        }
        return new Registered(port, urls);
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

    /** Reads an Open's address text: the client's address, then optionally a space and the server's. */
    public static Addresses addresses(String text) {
        int space = text.indexOf(' ');
        return space < 0 ? new Addresses(text, null)
                : new Addresses(text.substring(0, space), text.substring(space + 1));
    }
}
