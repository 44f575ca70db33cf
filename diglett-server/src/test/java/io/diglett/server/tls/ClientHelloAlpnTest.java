package io.diglett.server.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import org.junit.jupiter.api.Test;

/** The ALPN protocols of real ClientHellos (the JDK's client), and malformed ones offering nothing. */
class ClientHelloAlpnTest {

    /** The ClientHello message body (after the record header and the handshake header) of a JDK client. */
    private static ByteBuf hello(String sni, String... protocols) throws Exception {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, null, null);
        SSLEngine engine = context.createSSLEngine(sni, 443);
        engine.setUseClientMode(true);
        SSLParameters parameters = engine.getSSLParameters();
        parameters.setServerNames(List.of(new SNIHostName(sni)));
        parameters.setApplicationProtocols(protocols);
        engine.setSSLParameters(parameters);
        ByteBuffer out = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        engine.wrap(ByteBuffer.allocate(0), out);
        out.flip();
        ByteBuf record = Unpooled.wrappedBuffer(out);
        assertEquals(22, record.getUnsignedByte(0), "a handshake record");
        assertEquals(1, record.getUnsignedByte(5), "a ClientHello");
        return record.slice(5 + 4, record.readableBytes() - 9); // what SslClientHelloHandler hands its lookup
    }

    @Test
    void readsTheOfferedProtocolsInOrder() throws Exception {
        assertEquals(List.of("acme-tls/1"), ClientHelloAlpn.protocols(hello("a.gw.test", "acme-tls/1")));
        assertEquals(List.of("h2", "http/1.1"), ClientHelloAlpn.protocols(hello("a.gw.test", "h2", "http/1.1")));
    }

    @Test
    void aHelloWithoutAlpnOffersNothing() throws Exception {
        assertEquals(List.of(), ClientHelloAlpn.protocols(hello("a.gw.test")));
    }

    @Test
    void aTruncatedOrMalformedHelloOffersNothing() throws Exception {
        ByteBuf whole = hello("a.gw.test", "acme-tls/1");
        for (int length = 0; length < whole.readableBytes(); length += 7) {
            // every cut ends before the ALPN extension's last byte or inside a length: never an exception
            List<String> read = ClientHelloAlpn.protocols(whole.slice(0, length));
            if (!read.isEmpty()) {
                assertEquals(List.of("acme-tls/1"), read);
            }
        }
        ByteBuf lying = Unpooled.copiedBuffer(whole);
        lying.setByte(2 + 32, 255); // a session id longer than the message
        assertEquals(List.of(), ClientHelloAlpn.protocols(lying));
        assertEquals(List.of(), ClientHelloAlpn.protocols(Unpooled.buffer(0)));
    }
}
