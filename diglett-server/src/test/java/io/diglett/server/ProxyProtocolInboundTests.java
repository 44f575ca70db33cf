package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.TunnelSpec;
import io.diglett.common.HostPort;
import io.diglett.server.TestServers.Backend;
import io.diglett.server.config.ForwardingSettings;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.PublicLimits;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code --accept-proxy-from 127.0.0.1/32} through real sockets: connections from 127.0.0.1 (the "load balancer")
 * to a name's raw port and to the HTTP and HTTPS ingress start with a PROXY header (v1 or v2), whose client reaches
 * the agent's own PROXY header toward the backend and X-Forwarded-For; a connection from 127.0.0.2 is taken as it
 * is, header bytes and all; one from the balancer without a valid header is closed and reaches nothing.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ProxyProtocolInboundTests {

    private static final InetAddress BALANCER = InetAddress.getLoopbackAddress();
    private static TunnelFixture fixture;
    /** The HTTP backend of the ingress tests, answering with the request head it got. */
    private static com.sun.net.httpserver.HttpServer web;

    @BeforeAll
    static void start() throws Exception {
        fixture = new TunnelFixture(GatewayConfig.defaults().withIngress(IngressTests.ingressSettings())
                .withForwarding(ForwardingSettings.defaults().withAcceptProxyFrom(List.of(
                        io.diglett.protocol.Cidr.parse("127.0.0.1/32")))));
        web = IngressTests.backend("web", new java.util.concurrent.atomic.AtomicInteger());
        fixture.expose("web", web.getAddress().getPort());
    }

    @AfterAll
    static void stop() {
        fixture.close();
        web.stop(0);
    }

    /** The bytes of a PROXY header for TCP over IPv4, written by Netty's encoder. */
    private static byte[] header(HAProxyProtocolVersion version, String client, int clientPort) {
        EmbeddedChannel encoder = new EmbeddedChannel(HAProxyMessageEncoder.INSTANCE);
        encoder.writeOutbound(new HAProxyMessage(version, HAProxyCommand.PROXY, HAProxyProxiedProtocol.TCP4,
                client, "192.0.2.80", clientPort, 443));
        ByteBuf out = encoder.readOutbound();
        try {
            return ByteBufUtil.getBytes(out);
        } finally {
            out.release();
            encoder.finishAndReleaseAll();
        }
    }

    private static Socket connectFrom(InetAddress source, int port) throws Exception {
        Socket socket = new Socket();
        socket.bind(new InetSocketAddress(source, 0));
        socket.connect(new InetSocketAddress(BALANCER, port), 5_000);
        socket.setSoTimeout(15_000);
        return socket;
    }

    @Test
    void theRawPortPassesTheBalancersClientToTheAgentsProxyHeader() throws Exception {
        CompletableFuture<String> seen = new CompletableFuture<>();
        try (Backend backend = new Backend(s -> {
            InputStream in = s.getInputStream();
            seen.complete(HttpTestClient.line(in) + "|" + HttpTestClient.line(in));
            s.getOutputStream().write("ok".getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
        })) {
            int port = fixture.expose(fixture.agentConfig("rawv1", backend.port()).withTunnels(List.of(
                    new TunnelSpec("rawv1", new HostPort("127.0.0.1", backend.port()))
                            .withProxyProtocol(TunnelSpec.ProxyProtocol.V1).withRawPort(true))));
            try (Socket socket = connectFrom(BALANCER, port)) {
                socket.getOutputStream().write(header(HAProxyProtocolVersion.V1, "203.0.113.7", 5555));
                socket.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
                assertEquals("ok", new String(TestServers.readExactly(socket.getInputStream(), 2),
                        StandardCharsets.US_ASCII));
            }
            assertEquals("PROXY TCP4 203.0.113.7 192.0.2.80 5555 443|hello", seen.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void theIngressSetsXForwardedForFromTheHeaderOverHttpAndHttps() throws Exception {
        int http = fixture.gateway.httpPort().orElseThrow();
        try (Socket socket = connectFrom(BALANCER, http)) {
            socket.getOutputStream().write(header(HAProxyProtocolVersion.V2, "203.0.113.9", 1234));
            String text = HttpTestClient.exchange(socket, HttpTestClient.get("web." + IngressTests.DOMAIN, "/"))
                    .text();
            assertTrue(text.contains("x-forwarded-for: 203.0.113.9\n"), text);
        }
        int https = fixture.gateway.httpsPort().orElseThrow();
        Socket plain = connectFrom(BALANCER, https);
        plain.getOutputStream().write(header(HAProxyProtocolVersion.V1, "198.51.100.4", 4321));
        try (SSLSocket socket = HttpTestClient.connectTls(plain, https, "web." + IngressTests.DOMAIN)) {
            String text = HttpTestClient.exchange(socket, HttpTestClient.get("web." + IngressTests.DOMAIN, "/"))
                    .text();
            assertTrue(text.contains("x-forwarded-for: 198.51.100.4\n"), text);
        }
    }

    @Test
    void otherAddressesAreTakenAsTheyAreAndTheBalancerMustSendAHeader() throws Exception {
        int http = fixture.gateway.httpPort().orElseThrow();
        try (Socket socket = connectFrom(InetAddress.getByName("127.0.0.2"), http)) {
            socket.getOutputStream().write(header(HAProxyProtocolVersion.V1, "203.0.113.7", 5555));
            assertEquals(400, HttpTestClient.exchange(socket, HttpTestClient.get("web." + IngressTests.DOMAIN, "/"))
                    .status(), "not from the balancer: the header is the start of a malformed request");
        }
        try (Socket socket = connectFrom(InetAddress.getByName("127.0.0.2"), http)) {
            String text = HttpTestClient.exchange(socket, HttpTestClient.get("web." + IngressTests.DOMAIN, "/"))
                    .text();
            assertTrue(text.contains("x-forwarded-for: 127.0.0.2\n"), text);
        }
        try (Socket socket = connectFrom(BALANCER, http)) {
            socket.getOutputStream().write(("GET / HTTP/1.1\r\nHost: web." + IngressTests.DOMAIN + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            assertEquals(-1, readOrEnd(socket), "no PROXY header from the balancer: closed without an answer");
        }
    }

    @Test
    void connectionsPerAddressCountTheClientTheHeaderNames() throws Exception {
        fixture.gateway.updatePublicLimits(PublicLimits.defaults().withMaxConnectionsPerIp(1));
        int http = fixture.gateway.httpPort().orElseThrow();
        try (Socket first = connectFrom(BALANCER, http); Socket second = connectFrom(BALANCER, http);
             Socket third = connectFrom(BALANCER, http)) {
            first.getOutputStream().write(header(HAProxyProtocolVersion.V2, "203.0.113.20", 1));
            assertTrue(HttpTestClient.exchange(first, keepAlive()).text().contains("x-forwarded-for: 203.0.113.20"));
            second.getOutputStream().write(header(HAProxyProtocolVersion.V2, "203.0.113.21", 2));
            assertEquals(200, HttpTestClient.exchange(second, keepAlive()).status(), "another client of the balancer");
            third.getOutputStream().write(header(HAProxyProtocolVersion.V2, "203.0.113.20", 3));
            assertEquals(429, HttpTestClient.exchange(third, keepAlive()).status(), "the first client's second");
        } finally {
            fixture.gateway.updatePublicLimits(PublicLimits.defaults());
        }
    }

    private static String keepAlive() {
        return HttpTestClient.get("web." + IngressTests.DOMAIN, "/");
    }

    private static int readOrEnd(Socket socket) throws Exception {
        try {
            return socket.getInputStream().read();
        } catch (java.net.SocketException e) {
            return -1; // reset: closed as well
        }
    }
}
