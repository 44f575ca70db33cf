package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.local.LocalAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The payloads of Login, Register, its Ok, Open (both layouts) and its Ok, as docs/protocol.md writes them. */
class RequestsTest {

    private static final UnpooledByteBufAllocator ALLOC = UnpooledByteBufAllocator.DEFAULT;

    private static final InetSocketAddress CLIENT4 = new InetSocketAddress("203.0.113.9", 51234);
    private static final InetSocketAddress GATEWAY4 = new InetSocketAddress("198.51.100.1", 443);
    private static final InetSocketAddress CLIENT6 = new InetSocketAddress("2001:db8::1", 40000);
    private static final InetSocketAddress GATEWAY6 = new InetSocketAddress("2001:db8::ff", 8443);

    /** A frame of {@code kind} whose payload is {@code hex}. */
    private static Frame frame(FrameKind kind, int id, String hex) {
        return new Frame(kind, id, Unpooled.wrappedBuffer(ByteBufUtil.decodeHexDump(hex.replace(" ", ""))));
    }

    /** Decodes {@code frame} with {@code decoder}, releasing the frame whatever happens. */
    private static <T> T decoded(Frame frame, Function<Frame, T> decoder) {
        try {
            return decoder.apply(frame);
        } finally {
            frame.release();
        }
    }

    private static String hexOf(Frame frame) {
        try {
            return ByteBufUtil.hexDump(frame.content());
        } finally {
            frame.release();
        }
    }

    private static String rejection(Frame frame, Function<Frame, ?> decoder) {
        return assertThrows(ProtocolException.class, () -> decoded(frame, decoder)).getMessage();
    }

    // ------------------------------------------------------------------ Login

    @Test
    void loginIsTheTokenInUtf8() {
        Frame frame = new Requests.Login("s3crét").encode(ALLOC);
        assertEquals(Protocol.CONNECTION_ID, frame.id());
        assertEquals(new Requests.Login("s3crét"), decoded(frame, Requests.Login::decode));
        assertEquals("", decoded(new Requests.Login("").encode(ALLOC), Requests.Login::decode).token());
        assertThrows(IllegalArgumentException.class, () -> new Requests.Login("x".repeat(1025)).encode(ALLOC),
                "a token longer than the frame is refused before anything is sent");
    }

    @Test
    void aVersion4LoginCarriesTheAgentsInstanceIdAfterTheToken() {
        java.util.UUID instance = new java.util.UUID(0x0102030405060708L, 0x090a0b0c0d0e0f10L);
        Frame frame = new Requests.Login("tok", instance).encode(ALLOC, 4);
        assertEquals("746f6b 00 0102030405060708090a0b0c0d0e0f10".replace(" ", ""), ByteBufUtil.hexDump(frame.content()));
        assertEquals(new Requests.Login("tok", instance), decoded(frame, f -> Requests.Login.decode(f, 4)));
        assertEquals(new Requests.Login("", instance),
                decoded(new Requests.Login("", instance).encode(ALLOC, 4), Requests.Login::decode));
        assertEquals(new Requests.Login("tok", null), decoded(frame(FrameKind.LOGIN, 0, "746f6b"), Requests.Login::decode),
                "the instance id is optional");
        assertEquals("746f6b", hexOf(new Requests.Login("tok", instance).encode(ALLOC, 3)),
                "a version-3 link gets the token alone");
        assertEquals(new Requests.Login("tok\u0000" + "x".repeat(16), null),
                decoded(frame(FrameKind.LOGIN, 0, "746f6b00" + "78".repeat(16)), f -> Requests.Login.decode(f, 3)),
                "before version 4 the whole payload is the token");
        assertEquals("Login's instance id must be one 0x00 byte and 16 bytes, got 3 bytes after the token",
                rejection(frame(FrameKind.LOGIN, 0, "746f6b 00 0102"), Requests.Login::decode));
        assertThrows(IllegalArgumentException.class, () -> new Requests.Login("a\u0000b", instance).encode(ALLOC, 4),
                "NUL separates the token from the instance id");
        assertThrows(IllegalArgumentException.class,
                () -> new Requests.Login("x".repeat(1024 - 16), instance).encode(ALLOC, 4),
                "the token and the instance id share the frame's 1,024 bytes");
        assertTrue(!Requests.Login.newInstance().equals(Requests.Login.newInstance()), "random per agent");
    }

    // ------------------------------------------------------------------ Register

    @Test
    void registerWithoutFlagsIsJustTheName() {
        Frame frame = Frame.register(ALLOC, 1, "web");
        try {
            assertArrayEquals("web".getBytes(StandardCharsets.US_ASCII), ByteBufUtil.getBytes(frame.content()));
            assertEquals(new Requests.Register("web", 0), Requests.Register.decode(frame));
        } finally {
            frame.release();
        }
    }

    @Test
    void registerWithFlagsAppendsANulAndTheFlagsByte() {
        Frame frame = Frame.register(ALLOC, 1, "web", Requests.FLAG_TLS_PASSTHROUGH);
        try {
            assertEquals("77656200" + "01", ByteBufUtil.hexDump(frame.content()));
            Requests.Register register = Requests.Register.decode(frame);
            assertEquals("web", register.name());
            assertTrue(register.tlsPassthrough());
        } finally {
            frame.release();
        }
        assertFalse(new Requests.Register("web", 0).tlsPassthrough());
    }

    @Test
    void malformedRegisterOptionsAreAProtocolError() {
        assertEquals("Register options must be one 0x00 byte and one flags byte, got 1 bytes after the name",
                rejection(frame(FrameKind.REGISTER, 1, "77 00"), Requests.Register::decode));
        assertEquals("Register options must be one 0x00 byte and one flags byte, got 3 bytes after the name",
                rejection(frame(FrameKind.REGISTER, 1, "77 00 01 02"), Requests.Register::decode));
    }

    // ------------------------------------------------------------------ Ok to Register

    @Test
    void registeredCarriesThePortThenOneUrlPerLine() {
        Frame frame = Frame.registered(ALLOC, 4, 33605,
                List.of("https://web.gateway.test", "http://web.gateway.test:8080"));
        assertEquals(4, frame.id());
        try {
            assertEquals("8345" + ByteBufUtil.hexDump("https://web.gateway.test\nhttp://web.gateway.test:8080"
                    .getBytes(StandardCharsets.UTF_8)), ByteBufUtil.hexDump(frame.content()));
            Requests.Registered registered = Requests.Registered.decode(frame);
            assertEquals(33605, registered.port());
            assertEquals(List.of("https://web.gateway.test", "http://web.gateway.test:8080"), registered.urls());
        } finally {
            frame.release();
        }
        assertEquals("0001", hexOf(Frame.registered(ALLOC, 4, 1)), "the seed's form: just the port");
        assertEquals(new Requests.Registered(1, List.of()),
                decoded(frame(FrameKind.OK, 4, "0001"), Requests.Registered::decode));
        assertEquals("Ok to a Register must carry the 2-byte public port, got 1 bytes",
                rejection(frame(FrameKind.OK, 4, "01"), Requests.Registered::decode));
    }

    @Test
    void urlsThatDoNotFitAnOkFrameAreRefusedBeforeAnythingIsSent() {
        String huge = "https://" + "a".repeat(FrameKind.OK.maxPayload()) + ".test";
        assertThrows(IllegalArgumentException.class, () -> Frame.registered(ALLOC, 1, 1, List.of(huge)));
    }

    // ------------------------------------------------------------------ Open, version 3

    @Test
    void openVersion3CarriesEachAddressAsFamilyAddressPort() {
        Requests.Open open = new Requests.Open(1, 0x40000, CLIENT4, GATEWAY6);
        Frame frame = open.encode(ALLOC, 7, 3);
        assertEquals(FrameKind.OPEN, frame.kind());
        assertEquals(7, frame.id());
        try {
            assertEquals("00000001" + "00040000" + "04" + "cb007109" + "c822" + "06"
                    + "20010db80000000000000000000000ff" + "20fb", ByteBufUtil.hexDump(frame.content()));
            assertEquals(open, Requests.Open.decode(frame));
        } finally {
            frame.release();
        }
        for (Requests.Open each : new Requests.Open[] {
            new Requests.Open(2, Protocol.MIN_WINDOW, null, null),
            new Requests.Open(3, Integer.MAX_VALUE, CLIENT6, GATEWAY6),
            new Requests.Open(-1, Protocol.DEFAULT_WINDOW, CLIENT4, null),
            new Requests.Open(4, Protocol.DEFAULT_WINDOW, null, GATEWAY4),
        }) {
            Frame encoded = each.encode(ALLOC, 9, Protocol.VERSION);
            int size = encoded.content().readableBytes();
            assertTrue(size >= Requests.Open.MIN_LENGTH && size <= Requests.Open.MAX_LENGTH, size + " bytes");
            assertEquals(each, decoded(encoded, Requests.Open::decode));
        }
        assertEquals("00000001" + "00010000" + "00" + "00",
                hexOf(new Requests.Open(1, 0x10000, null, null).encode(ALLOC, 7, 3)), "unknown: the family alone");
    }

    @Test
    void openAddressesComeFromTheConnectionAndAreUnknownForNonIpSockets() {
        assertEquals(new Requests.Open(1, Protocol.MIN_WINDOW, CLIENT4, null),
                Requests.Open.of(1, Protocol.MIN_WINDOW, CLIENT4, new LocalAddress("x")));
        assertThrows(IllegalArgumentException.class, () -> new Requests.Open(1, Protocol.MIN_WINDOW,
                InetSocketAddress.createUnresolved("example.com", 80), null), "a host name has no binary form");
        InetSocketAddress scoped = new InetSocketAddress("fe80::1%1", 80);
        Requests.Open open = decoded(Requests.Open.of(1, Protocol.MIN_WINDOW, scoped, null)
                .encode(ALLOC, 1, Protocol.VERSION), Requests.Open::decode);
        assertEquals("fe80:0:0:0:0:0:0:1", open.client().getAddress().getHostAddress(), "the scope is not sent");
        assertThrows(IllegalArgumentException.class, () -> open.encode(ALLOC, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> open.encode(ALLOC, 1, Protocol.VERSION + 1));
    }

    @Test
    void aMalformedVersion3OpenIsAProtocolErrorSayingWhatIsWrong() {
        Function<Frame, ?> decode = Requests.Open::decode;
        assertEquals("Open payload of 9 bytes, a version-3 Open has 10..46",
                rejection(frame(FrameKind.OPEN, 7, "00000001 00010000 00"), decode));
        assertEquals("Open payload of 47 bytes, a version-3 Open has 10..46",
                rejection(frame(FrameKind.OPEN, 7, "00000001 00010000" + "00".repeat(39)), decode));
        assertEquals("Open with window 65534 below 65535",
                rejection(frame(FrameKind.OPEN, 7, "00000001 0000fffe 00 00"), decode));
        assertEquals("Open with window 4294967295 below 65535",
                rejection(frame(FrameKind.OPEN, 7, "00000001 ffffffff 00 00"), decode));
        assertEquals("Open client address of unknown family 0x5",
                rejection(frame(FrameKind.OPEN, 7, "00000001 00010000 05 00"), decode));
        assertEquals("Open client address of family 4 needs 6 bytes, 5 left",
                rejection(frame(FrameKind.OPEN, 7, "00000001 00010000 04 7f000001 00"), decode));
        assertEquals("Open ends before its destination address",
                rejection(frame(FrameKind.OPEN, 7, "00000001 00010000 04 7f000001 0050"), decode));
        assertEquals("Open destination address of family 6 needs 18 bytes, 6 left",
                rejection(frame(FrameKind.OPEN, 7, "00000001 00010000 00 06 7f000001 0050"), decode));
        assertEquals("Open has 2 bytes after its addresses",
                rejection(frame(FrameKind.OPEN, 7, "00000001 00010000 00 00 0000"), decode));
        assertThrows(IllegalArgumentException.class, () -> decoded(frame(FrameKind.OK, 7, ""), decode),
                "another kind is the caller's mistake, not the peer's");
    }

    // ------------------------------------------------------------------ Open, version 2

    /** What a version-2 agent parses: the text after 8 bytes, split at the first space. */
    private static String version2Text(Requests.Open open) {
        Frame frame = open.encode(ALLOC, 7, 2);
        try {
            assertEquals(open.registration(), frame.content().getInt(0));
            assertEquals(open.window(), frame.content().getInt(4));
            return frame.content().toString(8, frame.content().readableBytes() - 8, StandardCharsets.UTF_8);
        } finally {
            frame.release();
        }
    }

    @Test
    void openVersion2CarriesTheAddressesAsOneText() {
        assertEquals("203.0.113.9:51234 198.51.100.1:443",
                version2Text(new Requests.Open(1, 65535, CLIENT4, GATEWAY4)));
        assertEquals("[2001:db8:0:0:0:0:0:1]:40000 [2001:db8:0:0:0:0:0:ff]:8443",
                version2Text(new Requests.Open(1, 65535, CLIENT6, GATEWAY6)));
        assertEquals("203.0.113.9:51234", version2Text(new Requests.Open(1, 65535, CLIENT4, null)),
                "no destination: the client alone");
        assertEquals("unknown 198.51.100.1:443", version2Text(new Requests.Open(1, 65535, null, GATEWAY4)));
        assertEquals("unknown", version2Text(new Requests.Open(1, 65535, null, null)));
        assertEquals("000000010000ffff" + ByteBufUtil.hexDump("unknown".getBytes(StandardCharsets.US_ASCII)),
                hexOf(new Requests.Open(1, 65535, null, null).encode(ALLOC, 7, 2)));
        Frame longest = new Requests.Open(1, 65535, CLIENT6, GATEWAY6).encode(ALLOC, 7, 2);
        try {
            assertTrue(longest.content().readableBytes() <= FrameKind.OPEN.maxPayload(), "within the version-2 range");
        } finally {
            longest.release();
        }
    }

    // ------------------------------------------------------------------ Ok to Open

    @Test
    void openedIsTheFourByteWindow() {
        Frame frame = Frame.opened(ALLOC, 9, 262_144);
        assertEquals(FrameKind.OK, frame.kind());
        assertEquals(9, frame.id());
        assertEquals("00040000", ByteBufUtil.hexDump(frame.content()));
        assertEquals(new Requests.Opened(262_144), decoded(frame, Requests.Opened::decode));
        assertEquals("Ok for stream 9 must carry a 4-byte window, got 2 bytes",
                rejection(frame(FrameKind.OK, 9, "0001"), Requests.Opened::decode));
        assertEquals("Ok for stream 9 must carry a 4-byte window, got 0 bytes",
                rejection(frame(FrameKind.OK, 9, ""), Requests.Opened::decode));
    }

    // ------------------------------------------------------------------ addresses in logs

    @Test
    void addressesAreIpColonPortWithIpv6InBrackets() {
        assertEquals("203.0.113.9:51234", Requests.address(CLIENT4));
        assertEquals("[2001:db8:0:0:0:0:0:1]:443", Requests.address(new InetSocketAddress("2001:db8::1", 443)));
        assertNull(Requests.address(new LocalAddress("x")));
        assertNull(Requests.address(null));
    }
}
