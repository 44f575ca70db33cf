package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Holds the code to {@code docs/protocol.md}: the frame-kind table there (code, name, payload size) is parsed
 * and compared with {@link FrameKind}, and one frame of every kind is encoded and compared with bytes written
 * out by hand from the spec, so renumbering a kind or changing a bound fails here, not in the field.
 */
class ProtocolSpecTest {

    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

    /** A row of section 3's table: {@code | 8 | Open | gateway → agent | stream | ... | 8-263 |}. */
    private static final Pattern ROW = Pattern.compile(
            "^\\|\\s*(\\d+)\\s*\\|\\s*([A-Za-z]+)\\s*\\|.*\\|\\s*(\\d+)(?:-(\\d+))?\\s*\\|\\s*$");

    @Test
    void theKindTableInTheSpecIsTheCodes() throws IOException {
        Path spec = Path.of("..", "docs", "protocol.md");
        Set<FrameKind> seen = EnumSet.noneOf(FrameKind.class);
        for (String line : Files.readAllLines(spec, StandardCharsets.UTF_8)) {
            Matcher m = ROW.matcher(line);
            if (!m.matches()) {
                continue;
            }
            int code = Integer.parseInt(m.group(1));
            String name = m.group(2);
            int min = Integer.parseInt(m.group(3));
            int max = m.group(4) == null ? min : Integer.parseInt(m.group(4));
            FrameKind kind = FrameKind.of(code);
            assertNotNull(kind, "the spec lists code " + code + " (" + name + "), the code has no such kind");
            assertEquals(constantName(name), kind.name(), "code " + code);
            assertEquals(min, kind.minPayload(), name + " smallest payload");
            assertEquals(max, kind.maxPayload(), name + " largest payload");
            seen.add(kind);
        }
        assertEquals(EnumSet.allOf(FrameKind.class), seen, "every kind in the code is in the spec's table");
    }

    /** "FinishRegister" to "FINISH_REGISTER". */
    private static String constantName(String specName) {
        return specName.replaceAll("([a-z])([A-Z])", "$1_$2").toUpperCase(Locale.ROOT);
    }

    @Test
    void everyKindEncodesToTheBytesTheSpecDescribes() {
        // kind (1) | id (4) | size (2) | payload, big-endian (section 2); payload layouts from section 3
        check(Frame.ok(7), "00 00000007 0000");
        check(Frame.registered(ALLOC, 3, 8080, java.util.List.of("https://web.example.com")),
                "00 00000003 0019 1f90" + hex("https://web.example.com"));
        check(Frame.opened(ALLOC, 9, 262_144), "00 00000009 0004 00040000");
        check(Frame.error(ALLOC, 2, "no"), "01 00000002 0002 6e6f");
        check(Frame.register(ALLOC, 1, "web"), "02 00000001 0003 776562");
        check(Frame.register(ALLOC, 1, "web", Requests.FLAG_TLS_PASSTHROUGH), "02 00000001 0005 776562 00 01");
        check(Frame.finishRegister(), "03 00000000 0000");
        check(Frame.payload(5, Unpooled.wrappedBuffer(new byte[] {1, 2, 3})), "04 00000005 0003 010203");
        check(Frame.close(ALLOC, 5, "gone"), "05 00000005 0004 676f6e65");
        check(Frame.terminate(ALLOC, "bye"), "06 00000000 0003 627965");
        check(Frame.login(ALLOC, "t"), "07 00000000 0001 74");
        check(new Requests.Login("t", new java.util.UUID(0x0001020304050607L, 0x08090a0b0c0d0e0fL)).encode(ALLOC, 4),
                "07 00000000 0012 74 00 000102030405060708090a0b0c0d0e0f");
        check(Requests.Open.of(1, 262_144, new InetSocketAddress("203.0.113.9", 51234),
                        new InetSocketAddress("2001:db8::1", 443)).encode(ALLOC, 7, Protocol.VERSION),
                "08 00000007 0022 00000001 00040000 04 cb007109 c822 06 20010db8000000000000000000000001 01bb");
        check(new Requests.Open(1, 262_144, null, null).encode(ALLOC, 7, Protocol.VERSION),
                "08 00000007 000a 00000001 00040000 00 00");
        // section 9: the version-2 layout a gateway still sends on a link with a version-2 agent
        check(Requests.Open.of(1, 262_144, new InetSocketAddress("1.2.3.4", 5), new InetSocketAddress("6.7.8.9", 10))
                        .encode(ALLOC, 7, 2),
                "08 00000007 001c 00000001 00040000" + hex("1.2.3.4:5 6.7.8.9:10"));
        check(Frame.window(ALLOC, 7, 65_536), "09 00000007 0004 00010000");
        check(Frame.fin(7), "0a 00000007 0000");
        check(Frame.ping(ALLOC, 0x0102030405060708L), "0b 00000000 0008 0102030405060708");
        check(Frame.pong(ALLOC, 0x0102030405060708L), "0c 00000000 0008 0102030405060708");
        check(Frame.refuse(ALLOC, "no"), "0d 00000000 0002 6e6f");
        // section 5.1: a session's Ok to Login, and a link joining it
        java.util.UUID session = new java.util.UUID(0x0001020304050607L, 0x08090a0b0c0d0e0fL);
        byte[] key = new byte[32];
        key[31] = 1;
        check(new Joining.Session(session, key).encode(ALLOC, 5),
                "00 00000000 0030 000102030405060708090a0b0c0d0e0f" + "00".repeat(31) + "01");
        check(new Joining.Session(session, key).encode(ALLOC, 4), "00 00000000 0000");
        check(new Joining.Join(session).encode(ALLOC), "0e 00000000 0010 000102030405060708090a0b0c0d0e0f");
        check(new Joining.Challenge(new byte[16]).encode(ALLOC), "0f 00000000 0010" + "00".repeat(16));
        check(new Joining.Proof(new byte[32]).encode(ALLOC), "10 00000000 0020" + "00".repeat(32));
        check(new Joining.Joined(2).encode(ALLOC), "00 00000000 0004 00000002");
        check(new Signals.Notice(Signals.Notice.CERTIFICATE, "ok").encode(ALLOC, 3), "11 00000003 0003 01 6f6b");
        check(Policy.parse("rate-limit 5\n").encode(ALLOC, 3), "12 00000003 000d" + hex("rate-limit 5\n"));
        check(Handshake.encode(ALLOC), "6469676c 06");
        check(Handshake.encode(ALLOC, 2), "6469676c 02");
    }

    private static String hex(String ascii) {
        return ByteBufUtil.hexDump(ascii.getBytes(StandardCharsets.US_ASCII));
    }

    private static void check(Object message, String expectedHex) {
        EmbeddedChannel channel = new EmbeddedChannel(FrameEncoder.INSTANCE);
        try {
            String described = message.toString();
            channel.writeOutbound(message);
            ByteBuf all = Unpooled.buffer();
            ByteBuf part;
            while ((part = channel.readOutbound()) != null) {
                all.writeBytes(part);
                part.release();
            }
            assertEquals(expectedHex.replace(" ", ""), ByteBufUtil.hexDump(all), described);
            all.release();
        } finally {
            channel.finishAndReleaseAll();
        }
    }
}
