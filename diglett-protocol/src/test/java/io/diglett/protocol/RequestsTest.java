package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.net.InetSocketAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The byte layouts of Register, Ok-to-Register and Open's addresses, as docs/protocol.md writes them. */
class RequestsTest {

    private static final UnpooledByteBufAllocator ALLOC = UnpooledByteBufAllocator.DEFAULT;

    @Test
    void registerWithoutFlagsIsJustTheName() {
        Frame frame = Frame.register(ALLOC, 1, "web");
        try {
            assertArrayEquals("web".getBytes(), ByteBufUtil.getBytes(frame.content()));
            assertEquals(new Requests.Register("web", 0), Requests.register(frame.content()));
        } finally {
            frame.release();
        }
    }

    @Test
    void registerWithFlagsAppendsANulAndTheFlagsByte() {
        Frame frame = Frame.register(ALLOC, 1, "web", Requests.FLAG_TLS_PASSTHROUGH);
        try {
            assertEquals("77656200" + "01", ByteBufUtil.hexDump(frame.content()));
            Requests.Register register = Requests.register(frame.content());
            assertEquals("web", register.name());
            assertTrue(register.tlsPassthrough());
        } finally {
            frame.release();
        }
        assertFalse(new Requests.Register("web", 0).tlsPassthrough());
    }

    @Test
    void malformedRegisterOptionsAreAProtocolError() {
        ByteBuf noFlags = Unpooled.wrappedBuffer(new byte[] {'w', 0});
        ByteBuf tooMany = Unpooled.wrappedBuffer(new byte[] {'w', 0, 1, 2});
        assertThrows(ProtocolException.class, () -> Requests.register(noFlags));
        assertThrows(ProtocolException.class, () -> Requests.register(tooMany));
    }

    @Test
    void registeredCarriesThePortThenOneUrlPerLine() {
        Frame frame = Frame.registered(ALLOC, 4, 33605,
                List.of("https://web.gateway.test", "http://web.gateway.test:8080"));
        try {
            ByteBuf payload = frame.content();
            assertEquals(33605, payload.getUnsignedShort(payload.readerIndex()));
            assertEquals("https://web.gateway.test\nhttp://web.gateway.test:8080",
                    payload.toString(payload.readerIndex() + 2, payload.readableBytes() - 2,
                            java.nio.charset.StandardCharsets.UTF_8));
            Requests.Registered registered = Requests.registered(payload);
            assertEquals(33605, registered.port());
            assertEquals(List.of("https://web.gateway.test", "http://web.gateway.test:8080"), registered.urls());
        } finally {
            frame.release();
        }
        Frame bare = Frame.registered(ALLOC, 4, 1);
        try {
            assertEquals(2, bare.content().readableBytes(), "the seed's form: just the port");
            assertEquals(List.of(), Requests.registered(bare.content()).urls());
        } finally {
            bare.release();
        }
        assertThrows(ProtocolException.class, () -> Requests.registered(Unpooled.wrappedBuffer(new byte[1])));
    }

    @Test
    void urlsThatDoNotFitAnOkFrameAreRefusedBeforeAnythingIsSent() {
        String huge = "https://" + "a".repeat(FrameKind.OK.maxPayload()) + ".test";
        assertThrows(IllegalArgumentException.class, () -> Frame.registered(ALLOC, 1, 1, List.of(huge)));
    }

    @Test
    void addressesAreIpColonPortWithIpv6InBrackets() {
        assertEquals("203.0.113.9:51234", Requests.address(new InetSocketAddress("203.0.113.9", 51234)));
        assertEquals("[2001:db8:0:0:0:0:0:1]:443", Requests.address(new InetSocketAddress("2001:db8::1", 443)));
        assertNull(Requests.address(new io.netty.channel.local.LocalAddress("x")));
        assertEquals(new Requests.Addresses("1.2.3.4:5", "6.7.8.9:10"), Requests.addresses("1.2.3.4:5 6.7.8.9:10"));
        assertEquals(new Requests.Addresses("1.2.3.4:5", null), Requests.addresses("1.2.3.4:5"));
        Frame open = Frame.open(ALLOC, 7, 1, 65535, "1.2.3.4:5", "6.7.8.9:10");
        try {
            assertEquals("1.2.3.4:5 6.7.8.9:10", open.content().toString(8, open.content().readableBytes() - 8,
                    java.nio.charset.StandardCharsets.UTF_8));
        } finally {
            open.release();
        }
    }
}
