package io.diglett.server.tls;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The protocols a TLS ClientHello offers in its ALPN extension (RFC 7301), read from the message Netty's
 * {@link io.netty.handler.ssl.SslClientHelloHandler} hands over (from {@code client_version} on, as its SNI
 * reader does). Netty reads the server name but not ALPN, and the HTTPS ingress must see {@code acme-tls/1}
 * before it picks a certificate (RFC 8737). Every length is checked against what is there; a malformed hello
 * offers nothing (the TLS engine then refuses it).
 */
public final class ClientHelloAlpn {

    private static final int ALPN = 16;
    /** At most this many protocols are read: a hello offers a few. */
    private static final int MAX_PROTOCOLS = 16;

    private ClientHelloAlpn() {
    }

    /** The protocols {@code hello} offers, in its order; empty without the extension or when malformed. */
    public static List<String> protocols(ByteBuf hello) {
        int offset = hello.readerIndex();
        int end = hello.writerIndex();
        offset += 2 + 32; // client_version, random
        if (offset + 1 > end) {
            return List.of();
        }
        offset += 1 + hello.getUnsignedByte(offset); // session id
        if (offset + 2 > end) {
            return List.of();
        }
        offset += 2 + hello.getUnsignedShort(offset); // cipher suites
        if (offset + 1 > end) {
            return List.of();
        }
        offset += 1 + hello.getUnsignedByte(offset); // compression methods
        if (offset + 2 > end) {
            return List.of();
        }
        int extensionsEnd = offset + 2 + hello.getUnsignedShort(offset);
        offset += 2;
        if (extensionsEnd > end) {
            return List.of();
        }
        while (offset + 4 <= extensionsEnd) {
            int type = hello.getUnsignedShort(offset);
            int length = hello.getUnsignedShort(offset + 2);
            offset += 4;
            if (offset + length > extensionsEnd) {
                return List.of();
            }
            if (type == ALPN) {
                return names(hello, offset, offset + length);
            }
            offset += length;
        }
        return List.of();
    }

    /** The ProtocolNameList in {@code [from, to)}. */
    private static List<String> names(ByteBuf hello, int from, int to) {
        if (from + 2 > to || from + 2 + hello.getUnsignedShort(from) != to) {
            return List.of();
        }
        List<String> names = new ArrayList<>(2);
        for (int offset = from + 2; offset < to && names.size() < MAX_PROTOCOLS; ) {
            int length = hello.getUnsignedByte(offset);
            if (length == 0 || offset + 1 + length > to) {
                return List.of();
            }
            names.add(hello.toString(offset + 1, length, StandardCharsets.US_ASCII));
            offset += 1 + length;
        }
        return names;
    }
}
