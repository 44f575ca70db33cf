package io.diglett.server.ingress;

import io.diglett.server.link.LocalNameRegistry;
import io.diglett.server.link.TestTunnels;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.IngressSettings;
import io.diglett.server.config.PublicLimits;
import io.diglett.server.link.ClientConnections;
import io.diglett.server.link.LinkEvents;
import io.diglett.server.link.NameRegistry;
import io.diglett.server.link.Tunnel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.HostPort;
import io.diglett.protocol.mux.HandlerNames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * {@link HttpIngress} on an {@link EmbeddedChannel}, for what it answers itself (no tunnel involved): routing
 * of Host values, 404 for unknown names, 400 without a Host, 431 for oversized heads, and nothing read or
 * leaked after the answer.
 */
class HttpIngressTest {

    private final NameRegistry names = new LocalNameRegistry();
    private final Ingress ingress = new Ingress(GatewayConfig.defaults().withIngress(new IngressSettings(
            "Gateway.Test.", new HostPort("127.0.0.1", 0), null, null, null)), names,
            status -> { }, new ClientConnections(() -> 0, LinkEvents.NONE), PublicLimits::defaults, LinkEvents.NONE);

    private EmbeddedChannel channel() {
        EmbeddedChannel channel = new EmbeddedChannel();
        channel.pipeline().addLast(HandlerNames.HTTP_DECODER, ingress.newRequestDecoder())
                .addLast(HandlerNames.INGRESS, new HttpIngress(ingress));
        return channel;
    }

    private static String answer(EmbeddedChannel channel, String request) {
        channel.writeInbound(Unpooled.copiedBuffer(request, StandardCharsets.ISO_8859_1));
        StringBuilder out = new StringBuilder();
        for (ByteBuf buf = channel.readOutbound(); buf != null; buf = channel.readOutbound()) {
            out.append(buf.toString(StandardCharsets.UTF_8));
            buf.release();
        }
        return out.toString();
    }

    @Test
    void hostValuesRouteToTheLabelBeforeTheDomainOnly() {
        TestTunnels tunnels = new TestTunnels(names);
        Tunnel tunnel = tunnels.claim("web");
        assertNull(ingress.route("web.gateway.test").tunnel(), "claimed but not live yet");
        tunnels.goLive(tunnel);
        for (String host : new String[] {"web.gateway.test", "WEB.Gateway.Test:8080", "web.gateway.test.",
            " web.gateway.test "}) {
            assertEquals(tunnel, ingress.route(host).tunnel(), host);
        }
        for (String host : new String[] {"gateway.test", "x.web.gateway.test", "web.gateway.test.evil",
            "webgateway.test", "[::1]:80", "-web.gateway.test", ""}) {
            assertNull(ingress.route(host).tunnel(), host);
        }
        assertEquals("web.gateway.test", ingress.route("Web.Gateway.Test:80").host());
    }

    @Test
    void anUnknownNameGets404AndTheConnectionCloses() {
        EmbeddedChannel channel = channel();
        String response = answer(channel, "GET / HTTP/1.1\r\nHost: nobody.gateway.test\r\n\r\n"
                + "GET / HTTP/1.1\r\nHost: nobody.gateway.test\r\n\r\n");
        assertTrue(response.startsWith("HTTP/1.1 404 Not Found\r\n"), response);
        assertTrue(response.contains("Connection: close\r\n"), response);
        assertTrue(response.contains("<b>nobody.gateway.test</b>"), response);
        assertEquals(1, response.split("HTTP/1.1 ", -1).length - 1, "one answer, then the connection is closed");
        assertFalse(channel.isOpen());
        assertFalse(channel.finishAndReleaseAll());
    }

    @Test
    void aRequestWithoutHostGets400() {
        EmbeddedChannel channel = channel();
        String response = answer(channel, "GET / HTTP/1.0\r\n\r\n");
        assertTrue(response.startsWith("HTTP/1.1 400 Bad Request\r\n"), response);
        assertFalse(channel.isOpen());
        channel.finishAndReleaseAll();
    }

    @Test
    void oversizedHeadsGet431AndMarkupInHostsIsEscaped() {
        EmbeddedChannel channel = channel();
        String response = answer(channel, "GET / HTTP/1.1\r\nHost: a.gateway.test\r\nX: "
                + "y".repeat(Ingress.MAX_HEADER_SIZE + 10) + "\r\n\r\n");
        assertTrue(response.startsWith("HTTP/1.1 431 "), response);
        channel.finishAndReleaseAll();

        EmbeddedChannel other = channel();
        String escaped = answer(other, "GET / HTTP/1.1\r\nHost: <script>.gateway.test\r\n\r\n");
        assertTrue(escaped.startsWith("HTTP/1.1 404 "), escaped);
        assertFalse(escaped.contains("<script>"), escaped);
        assertTrue(escaped.contains("&lt;script&gt;"), escaped);
        other.finishAndReleaseAll();
    }

    @Test
    void aBodySentWithARefusedRequestIsReleased() {
        EmbeddedChannel channel = channel();
        String response = answer(channel, "POST /upload HTTP/1.1\r\nHost: nobody.gateway.test\r\n"
                + "Content-Length: 10000\r\n\r\n" + "z".repeat(10000));
        assertTrue(response.startsWith("HTTP/1.1 404 "), response);
        assertFalse(channel.finishAndReleaseAll(), "nothing left over");
    }

    @Test
    void behindTlsAHostOtherThanTheServerNameGets421AndTheSameNameWithAPortIsRouted() {
        EmbeddedChannel misdirected = new EmbeddedChannel();
        misdirected.pipeline().addLast(HandlerNames.HTTP_DECODER, ingress.newRequestDecoder())
                .addLast(HandlerNames.INGRESS, new HttpIngress(ingress, true, "a.gateway.test"));
        String response = answer(misdirected, "GET / HTTP/1.1\r\nHost: b.gateway.test\r\n\r\n");
        assertTrue(response.startsWith("HTTP/1.1 421 Misdirected Request\r\n"), response);
        assertFalse(misdirected.isOpen());
        assertFalse(misdirected.finishAndReleaseAll());

        EmbeddedChannel same = new EmbeddedChannel();
        same.pipeline().addLast(HandlerNames.HTTP_DECODER, ingress.newRequestDecoder())
                .addLast(HandlerNames.INGRESS, new HttpIngress(ingress, true, "A.Gateway.Test"));
        String routed = answer(same, "GET / HTTP/1.1\r\nHost: a.gateway.test:443\r\n\r\n");
        assertTrue(routed.startsWith("HTTP/1.1 404 "), "routed by name (no tunnel 'a'), not misdirected: " + routed);
        same.finishAndReleaseAll();
    }
}
