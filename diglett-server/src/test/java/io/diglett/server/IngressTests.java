package io.diglett.server;

import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.IngressSettings;
import io.diglett.server.ingress.Ingress;
import io.diglett.server.tls.GatewayTls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.diglett.agent.Agent;
import io.diglett.agent.Registration;
import io.diglett.agent.TunnelSpec;
import io.diglett.common.HostPort;
import io.diglett.server.HttpTestClient.Response;
import io.diglett.server.TestServers.Backend;
import io.diglett.server.TestServers.RandomBytes;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The built-in ingress through real sockets: a gateway with {@code --domain gateway.test --http --https} (all
 * on 127.0.0.1, port 0), agents for the names {@code alpha} and {@code beta} in front of JDK HTTP servers, and
 * requests written byte by byte so that the Host header and the TLS server name are the test's to choose.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class IngressTests {

    static final String DOMAIN = "gateway.test";

    static TunnelFixture fixture;
    static HttpServer alpha;
    static HttpServer beta;
    static final AtomicInteger alphaRequests = new AtomicInteger();
    static List<Registration> alphaRegistration;
    static int http;
    static int https;

    @BeforeAll
    static void start() throws Exception {
        fixture = new TunnelFixture(GatewayConfig.defaults().withIngress(ingressSettings()));
        alpha = backend("alpha", alphaRequests);
        beta = backend("beta", new AtomicInteger());
        alphaRegistration = fixture.agent(fixture.agentConfig("alpha", alpha.getAddress().getPort()))
                .start().get(10, TimeUnit.SECONDS);
        fixture.agent(fixture.agentConfig("beta", beta.getAddress().getPort())).start().get(10, TimeUnit.SECONDS);
        http = fixture.gateway.httpPort().orElseThrow();
        https = fixture.gateway.httpsPort().orElseThrow();
    }

    static IngressSettings ingressSettings() {
        return new IngressSettings(DOMAIN, new HostPort("127.0.0.1", 0), new HostPort("127.0.0.1", 0), null, null);
    }

    @AfterAll
    static void stop() {
        fixture.close();
        alpha.stop(0);
        beta.stop(0);
    }

    /**
     * A JDK HTTP server answering {@code /} with who it is and the request head it got, {@code /upload} with
     * the SHA-256 of the body, {@code /download?n=BYTES} with that many seeded random bytes (chunked).
     */
    static HttpServer backend(String who, AtomicInteger requests) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        server.setExecutor(Executors.newCachedThreadPool());
        server.createContext("/", exchange -> {
            requests.incrementAndGet();
            StringBuilder text = new StringBuilder(who + "\n" + exchange.getRequestMethod() + " "
                    + exchange.getRequestURI() + "\n");
            exchange.getRequestHeaders().forEach((name, values) -> values.forEach(
                    value -> text.append(name.toLowerCase()).append(": ").append(value).append('\n')));
            exchange.getRequestBody().readAllBytes();
            send(exchange, 200, text.toString());
        });
        server.createContext("/upload", exchange -> {
            MessageDigest digest = TestServers.sha256();
            byte[] buf = new byte[64 * 1024];
            long total = 0;
            try (InputStream in = exchange.getRequestBody()) {
                for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
                    digest.update(buf, 0, n);
                    total += n;
                }
            }
            send(exchange, 200, total + " " + HexFormat.of().formatHex(digest.digest()));
        });
        server.createContext("/download", exchange -> {
            long n = Long.parseLong(exchange.getRequestURI().getQuery().substring(2));
            exchange.sendResponseHeaders(200, 0);
            try (OutputStream out = exchange.getResponseBody()) {
                RandomBytes.write(n, n, out);
            }
        });
        server.start();
        return server;
    }

    static void send(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Test
    void theAgentIsToldItsPublicUrls() {
        assertEquals(List.of("https://alpha." + DOMAIN + ":" + https, "http://alpha." + DOMAIN + ":" + http),
                alphaRegistration.get(0).urls());
    }

    @Test
    void plainHttpIsRoutedByHostWithForwardedHeadersSetByTheGateway() throws Exception {
        try (Socket socket = HttpTestClient.connect(http)) {
            Response response = HttpTestClient.exchange(socket, "GET /hello?x=1 HTTP/1.1\r\nHost: Alpha." + DOMAIN
                    + ":" + http + "\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.test\r\n\r\n");
            assertEquals(200, response.status());
            String text = response.text();
            assertTrue(text.startsWith("alpha\nGET /hello?x=1\n"), text);
            assertTrue(text.contains("x-forwarded-for: 127.0.0.1\n"), text);
            assertFalse(text.contains("6.6.6.6"), "a client's own X-Forwarded-For is replaced: " + text);
            assertTrue(text.contains("x-forwarded-proto: http\n"), text);
            assertTrue(text.contains("x-forwarded-host: Alpha." + DOMAIN + ":" + http + "\n"), text);
            assertTrue(text.contains("host: Alpha." + DOMAIN + ":" + http + "\n"), "the Host header is kept: " + text);
        }
        try (Socket socket = HttpTestClient.connect(http)) {
            Response response = HttpTestClient.exchange(socket, HttpTestClient.get("beta." + DOMAIN + ".", "/"));
            assertTrue(response.text().startsWith("beta\n"), response.text());
        }
    }

    @Test
    void keepAliveServesManyRequestsOnOneConnection() throws Exception {
        try (Socket socket = HttpTestClient.connect(http)) {
            for (int i = 0; i < 20; i++) {
                Response response = HttpTestClient.exchange(socket, HttpTestClient.get("alpha." + DOMAIN, "/n" + i));
                assertEquals(200, response.status());
                assertTrue(response.text().startsWith("alpha\nGET /n" + i + "\n"), response.text());
            }
        }
    }

    @Test
    void aKeepAliveRequestForAnotherHostIsNeverSentToTheFirstTunnel() throws Exception {
        try (Socket socket = HttpTestClient.connect(http)) {
            Response first = HttpTestClient.exchange(socket, HttpTestClient.get("alpha." + DOMAIN, "/first"));
            assertTrue(first.text().startsWith("alpha\n"));
            int before = alphaRequests.get();
            // the next request on the same connection names beta: the gateway must not hand it to alpha
            socket.getOutputStream().write(HttpTestClient.get("beta." + DOMAIN, "/second")
                    .getBytes(StandardCharsets.US_ASCII));
            assertThrows(EOFException.class, () -> HttpTestClient.read(socket.getInputStream()),
                    "closed cleanly, without an answer from the wrong tunnel");
            assertEquals(before, alphaRequests.get(), "alpha never saw the request for beta");
        }
    }

    @Test
    void unknownNamesAndForeignHostsGet404AndAMissingHost400() throws Exception {
        for (String host : new String[] {"nobody." + DOMAIN, DOMAIN, "alpha.other.test", "a.alpha." + DOMAIN,
            "[::1]:80", "bad_name." + DOMAIN}) {
            try (Socket socket = HttpTestClient.connect(http)) {
                Response response = HttpTestClient.exchange(socket, HttpTestClient.get(host, "/"));
                assertEquals(404, response.status(), host);
                assertTrue(response.text().contains("No tunnel here"), response.text());
                assertEquals("close", response.headers().get("connection"));
            }
        }
        try (Socket socket = HttpTestClient.connect(http)) {
            Response response = HttpTestClient.exchange(socket, "GET / HTTP/1.0\r\n\r\n");
            assertEquals(400, response.status());
        }
        try (Socket socket = HttpTestClient.connect(http)) {
            Response response = HttpTestClient.exchange(socket, "GET /" + "a".repeat(Ingress.MAX_INITIAL_LINE)
                    + " HTTP/1.1\r\nHost: alpha." + DOMAIN + "\r\n\r\n");
            assertEquals(414, response.status());
        }
        try (Socket socket = HttpTestClient.connect(http)) {
            Response response = HttpTestClient.exchange(socket, "GET / HTTP/1.1\r\nHost: alpha." + DOMAIN
                    + "\r\nX-Big: " + "b".repeat(Ingress.MAX_HEADER_SIZE) + "\r\n\r\n");
            assertEquals(431, response.status());
        }
        try (Socket socket = HttpTestClient.connect(http)) {
            Response response = HttpTestClient.exchange(socket, HttpTestClient.get("alpha." + DOMAIN, "/"));
            assertEquals(200, response.status(), "the tunnel still serves after all that");
        }
    }

    @Test
    void aRefusingBackendGets502AndSoDoesAnAgentLeavingMidRequest() throws Exception {
        Agent refused = fixture.agent(fixture.agentConfig("refused", TestServers.refusedPort()));
        refused.start().get(10, TimeUnit.SECONDS);
        try (Socket socket = HttpTestClient.connect(http)) {
            Response response = HttpTestClient.exchange(socket, HttpTestClient.get("refused." + DOMAIN, "/"));
            assertEquals(502, response.status());
            assertTrue(response.text().contains("unreachable"), response.text());
        }
        CountDownLatch requestSeen = new CountDownLatch(1);
        try (Backend silent = new Backend(s -> {
            requestSeen.countDown();
            s.getInputStream().readAllBytes(); // reads, never answers
        })) {
            Agent leaving = fixture.agent(fixture.agentConfig("leaving", silent.port()));
            leaving.start().get(10, TimeUnit.SECONDS);
            try (Socket socket = HttpTestClient.connect(http)) {
                socket.getOutputStream().write(HttpTestClient.get("leaving." + DOMAIN, "/")
                        .getBytes(StandardCharsets.US_ASCII));
                assertTrue(requestSeen.await(10, TimeUnit.SECONDS));
                leaving.close();
                Response response = HttpTestClient.read(socket.getInputStream());
                assertEquals(502, response.status());
            }
        }
    }

    @Test
    void httpsIsTerminatedWithTheIngressCertificateAndRoutedByName() throws Exception {
        try (SSLSocket socket = HttpTestClient.connectTls(https, "alpha." + DOMAIN)) {
            String subject = ((java.security.cert.X509Certificate) socket.getSession().getPeerCertificates()[0])
                    .getSubjectX500Principal().getName();
            assertEquals("CN=*." + DOMAIN, subject);
            for (int i = 0; i < 3; i++) {
                Response response = HttpTestClient.exchange(socket, HttpTestClient.get("alpha." + DOMAIN, "/tls"));
                assertEquals(200, response.status());
                assertTrue(response.text().contains("x-forwarded-proto: https\n"), response.text());
            }
        }
        try (SSLSocket socket = HttpTestClient.connectTls(https, "nobody." + DOMAIN)) {
            assertEquals(404, HttpTestClient.exchange(socket, HttpTestClient.get("nobody." + DOMAIN, "/")).status());
        }
    }

    @Test
    void aHostNamingAnotherTunnelThanTheServerNameGets421() throws Exception {
        int before = alphaRequests.get();
        try (SSLSocket socket = HttpTestClient.connectTls(https, "beta." + DOMAIN)) {
            Response misdirected = HttpTestClient.exchange(socket, HttpTestClient.get("alpha." + DOMAIN, "/"));
            assertEquals(421, misdirected.status(), misdirected.text());
        }
        assertEquals(before, alphaRequests.get(), "the request never reached alpha");
        try (SSLSocket socket = HttpTestClient.connectTls(https, "alpha." + DOMAIN)) {
            Response same = HttpTestClient.exchange(socket, HttpTestClient.get("ALPHA." + DOMAIN + ":" + https, "/"));
            assertEquals(200, same.status(), "the same name with a port is fine");
            assertTrue(same.text().startsWith("alpha\n"), same.text());
        }
    }

    @Test
    void largeBodiesStreamBothWaysChunkedOrNot() throws Exception {
        long size = 48L * 1024 * 1024;
        try (Socket socket = HttpTestClient.connect(http)) {
            // upload, chunked
            OutputStream out = socket.getOutputStream();
            out.write(("POST /upload HTTP/1.1\r\nHost: alpha." + DOMAIN + "\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            byte[] sent = RandomBytes.write(7, size, new ChunkedOutput(out, 50_000));
            out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            Response upload = HttpTestClient.read(socket.getInputStream());
            assertEquals(size + " " + HexFormat.of().formatHex(sent), upload.text());
            // upload, Content-Length, on the same connection
            out.write(("POST /upload HTTP/1.1\r\nHost: alpha." + DOMAIN + "\r\nContent-Length: " + size + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            sent = RandomBytes.write(8, size, out);
            upload = HttpTestClient.read(socket.getInputStream());
            assertEquals(size + " " + HexFormat.of().formatHex(sent), upload.text());
            // download
            Response download = HttpTestClient.exchange(socket, HttpTestClient.get("alpha." + DOMAIN,
                    "/download?n=" + size));
            assertEquals(size, download.body().length);
            assertArrayEquals(RandomBytes.digest(size, size), TestServers.sha256().digest(download.body()));
        }
    }

    /** Chunked transfer coding around a stream, in chunks of at most {@code max} bytes. */
    static final class ChunkedOutput extends OutputStream {
        private final OutputStream out;
        private final int max;

        ChunkedOutput(OutputStream out, int max) {
            this.out = out;
            this.max = max;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            while (len > 0) {
                int n = Math.min(len, max);
                out.write((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(b, off, n);
                out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                off += n;
                len -= n;
            }
        }
    }

    @Test
    void curlReachesBothListenersWithTheNameResolvedByHand() throws Exception {
        Process curl = new ProcessBuilder("curl", "-sS", "-k", "--max-time", "20",
                "--resolve", "beta." + DOMAIN + ":" + https + ":127.0.0.1",
                "--resolve", "beta." + DOMAIN + ":" + http + ":127.0.0.1",
                "https://beta." + DOMAIN + ":" + https + "/via-curl",
                "http://beta." + DOMAIN + ":" + http + "/via-curl-plain")
                .redirectErrorStream(true).start();
        String output = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, curl.waitFor(), output);
        assertTrue(output.contains("beta\nGET /via-curl\n"), output);
        assertTrue(output.contains("beta\nGET /via-curl-plain\n"), output);
        assertTrue(output.contains("x-forwarded-proto: https"), output);
    }

    @Test
    void aWebSocketUpgradeSwitchesToRawBytesBothWays() throws Exception {
        try (Backend ws = new Backend(WebSockets::echoServer)) {
            fixture.agent(fixture.agentConfig("ws", ws.port())).start().get(10, TimeUnit.SECONDS);
            try (Socket socket = HttpTestClient.connect(http)) {
                String key = WebSockets.newKey();
                Response switched = HttpTestClient.exchange(socket, "GET /chat HTTP/1.1\r\nHost: ws." + DOMAIN
                        + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
                        + "\r\nSec-WebSocket-Version: 13\r\n\r\n");
                assertEquals(101, switched.status());
                assertEquals(WebSockets.accept(key), switched.headers().get("sec-websocket-accept"));
                for (String message : new String[] {"hello", "GET / HTTP/1.1\r\nHost: beta." + DOMAIN + "\r\n\r\n",
                    "x".repeat(70_000)}) {
                    WebSockets.sendText(socket.getOutputStream(), message);
                    assertEquals(message, WebSockets.readText(socket.getInputStream()),
                            "after the switch, bytes are not parsed as HTTP any more");
                }
            }
        }
    }

    @Test
    void anUpgradeOnALaterKeepAliveRequestIsForwardedAsAPlainRequest() throws Exception {
        try (Socket socket = HttpTestClient.connect(http)) {
            assertEquals(200, HttpTestClient.exchange(socket, HttpTestClient.get("alpha." + DOMAIN, "/one")).status());
            Response second = HttpTestClient.exchange(socket, "GET /two HTTP/1.1\r\nHost: alpha." + DOMAIN
                    + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
            assertEquals(200, second.status());
            assertFalse(second.text().contains("upgrade: websocket"), second.text());
            assertEquals(200, HttpTestClient.exchange(socket, HttpTestClient.get("alpha." + DOMAIN, "/three"))
                    .status(), "still plain HTTP on the same connection");
        }
    }

    @Test
    void tlsPassthroughReachesTheBackendsOwnTlsServer() throws Exception {
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("diglett-backend-tls");
        java.nio.file.Path cert = dir.resolve("backend.crt");
        java.nio.file.Path key = dir.resolve("backend.key");
        GatewayTls.generate(cert, key, "secure backend", List.of("secure." + DOMAIN));
        javax.net.ssl.SSLServerSocket server = TlsBackends.server(cert, key);
        try (Backend tls = new Backend(server, s -> {
            javax.net.ssl.SSLSocket socket = (javax.net.ssl.SSLSocket) s;
            HttpTestClient.line(socket.getInputStream());
            for (String line = HttpTestClient.line(socket.getInputStream()); line != null && !line.isEmpty();
                 line = HttpTestClient.line(socket.getInputStream())) {
                // the head; no X-Forwarded-* could have been added to encrypted bytes
            }
            byte[] body = "served by the backend's own TLS".getBytes(StandardCharsets.UTF_8);
            socket.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().write(body);
            socket.getOutputStream().flush();
        })) {
            List<Registration> registered = fixture.agent(fixture.agentConfig("secure", tls.port())
                    .withTunnels(List.of(new TunnelSpec("secure", new HostPort("127.0.0.1", tls.port()))
                            .withTlsPassthrough(true)))).start().get(10, TimeUnit.SECONDS);
            assertEquals(List.of("https://secure." + DOMAIN + ":" + https), registered.get(0).urls());
            try (SSLSocket socket = HttpTestClient.connectTls(https, "secure." + DOMAIN)) {
                String subject = ((java.security.cert.X509Certificate) socket.getSession().getPeerCertificates()[0])
                        .getSubjectX500Principal().getName();
                assertEquals("CN=secure backend", subject, "the backend's certificate, end to end");
                Response response = HttpTestClient.exchange(socket, HttpTestClient.get("secure." + DOMAIN, "/"));
                assertEquals("served by the backend's own TLS", response.text());
            }
            try (SSLSocket socket = HttpTestClient.connectTls(https, "alpha." + DOMAIN)) {
                Response misdirected = HttpTestClient.exchange(socket, HttpTestClient.get("secure." + DOMAIN, "/"));
                assertEquals(421, misdirected.status(), "decrypted requests never reach a passthrough backend");
            }
            try (Socket socket = HttpTestClient.connect(http)) {
                Response redirect = HttpTestClient.exchange(socket, HttpTestClient.get("secure." + DOMAIN, "/p?q"));
                assertEquals(308, redirect.status(), "plain HTTP for a passthrough name goes to HTTPS");
                assertEquals("https://secure." + DOMAIN + ":" + https + "/p?q", redirect.headers().get("location"));
            }
        }
    }

    @Test
    void proxyProtocolHeadersTellTheBackendTheRealClient() throws Exception {
        for (TunnelSpec.ProxyProtocol version : new TunnelSpec.ProxyProtocol[] {TunnelSpec.ProxyProtocol.V1,
            TunnelSpec.ProxyProtocol.V2}) {
            java.util.concurrent.CompletableFuture<byte[]> header = new java.util.concurrent.CompletableFuture<>();
            try (Backend backend = new Backend(s -> {
                InputStream in = s.getInputStream();
                header.complete(version == TunnelSpec.ProxyProtocol.V1
                        ? HttpTestClient.line(in).getBytes(StandardCharsets.US_ASCII) : readV2(in));
                s.getOutputStream().write("after the header".getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
            })) {
                String name = "proxy" + version.name().toLowerCase();
                int port = fixture.expose(fixture.agentConfig(name, backend.port()).withTunnels(List.of(
                        new TunnelSpec(name, new HostPort("127.0.0.1", backend.port())).withProxyProtocol(version)
                                .withRawPort(true))));
                try (Socket client = TestServers.connect(port)) {
                    client.setSoTimeout(10_000);
                    assertEquals("after the header", new String(TestServers.readExactly(client.getInputStream(), 16),
                            StandardCharsets.US_ASCII), "the backend speaks first, after reading the header");
                    byte[] got = header.get(10, TimeUnit.SECONDS);
                    if (version == TunnelSpec.ProxyProtocol.V1) {
                        assertEquals("PROXY TCP4 127.0.0.1 127.0.0.1 " + client.getLocalPort() + " " + port,
                                new String(got, StandardCharsets.US_ASCII));
                    } else {
                        java.nio.ByteBuffer v2 = java.nio.ByteBuffer.wrap(got);
                        assertEquals(0x21, v2.get(12) & 0xff, "version 2, PROXY command");
                        assertEquals(0x11, v2.get(13) & 0xff, "TCP over IPv4");
                        assertEquals(12, v2.getShort(14), "two addresses and two ports");
                        assertEquals(0x7f000001, v2.getInt(16), "source address");
                        assertEquals(0x7f000001, v2.getInt(20), "destination address");
                        assertEquals(client.getLocalPort(), v2.getShort(24) & 0xffff, "source port");
                        assertEquals(port, v2.getShort(26) & 0xffff, "destination port");
                    }
                }
            }
        }
    }

    /** A PROXY v2 header: 12-byte signature, version/command, family, length, then that many bytes. */
    private static byte[] readV2(InputStream in) throws IOException {
        byte[] fixed = TestServers.readExactly(in, 16);
        byte[] signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
        assertArrayEquals(signature, java.util.Arrays.copyOf(fixed, 12));
        int length = ((fixed[14] & 0xff) << 8) | (fixed[15] & 0xff);
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.write(fixed);
        all.write(TestServers.readExactly(in, length));
        return all.toByteArray();
    }

    /** Reads a request head (up to the empty line) as ISO-8859-1. */
    static String head(InputStream in) throws Exception {
        StringBuilder head = new StringBuilder();
        for (String line = HttpTestClient.line(in); line != null && !line.isEmpty(); line = HttpTestClient.line(in)) {
            head.append(line).append('\n');
        }
        return head.toString();
    }

    /** A pipelined request without Host after a routed one: the first request must get its own answer. */
    @Test
    void aHostlessPipelinedRequestDoesNotReplaceTheFirstResponse() throws Exception {
        try (Socket socket = HttpTestClient.connect(http)) {
            Response first = HttpTestClient.exchange(socket, HttpTestClient.get("alpha." + DOMAIN, "/first")
                    + "GET /second HTTP/1.1\r\n\r\n");
            assertEquals(200, first.status(), "response to the first request: " + first.text());
        }
    }

    /** Raw (non-ASCII) bytes of the request target must reach the backend unchanged. */
    @Test
    void requestTargetBytesAreForwardedUnchanged() throws Exception {
        CompletableFuture<String> requestLine = new CompletableFuture<>();
        try (Backend raw = new Backend(s -> {
            requestLine.complete(HttpTestClient.line(s.getInputStream()));
            s.getOutputStream().write("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
        })) {
            fixture.agent(fixture.agentConfig("rawuri", raw.port())).start().get(10, TimeUnit.SECONDS);
            try (Socket socket = HttpTestClient.connect(http)) {
                OutputStream out = socket.getOutputStream();
                out.write("GET /caf".getBytes(StandardCharsets.US_ASCII));
                out.write(new byte[] {(byte) 0xC3, (byte) 0xA9}); // "é" in UTF-8, sent raw
                out.write((" HTTP/1.1\r\nHost: rawuri." + DOMAIN + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                HttpTestClient.read(socket.getInputStream());
            }
            // HttpTestClient.line decodes ISO-8859-1: the two bytes C3 A9 read as "Ã©"
            assertEquals("GET /caf\u00c3\u00a9 HTTP/1.1", requestLine.get(10, TimeUnit.SECONDS));
        }
    }

    /** A client that sends its request and half-closes: the backend must get the body and the FIN. */
    @Test
    void aClientThatHalfClosesAfterItsRequestGetsItsAnswer() throws Exception {
        TestServers.Handler echoCountAtEof = s -> {
            InputStream in = s.getInputStream();
            String head = head(in);
            byte[] rest = in.readAllBytes(); // until the client's FIN reaches the backend
            byte[] body = (head.split("\n")[0] + " / body after head: " + rest.length).getBytes(StandardCharsets.US_ASCII);
            OutputStream out = s.getOutputStream();
            out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
        };
        try (Backend backend = new Backend(echoCountAtEof)) {
            int port = fixture.exposeRaw("halfclose", backend.port());
            String request = "POST /p HTTP/1.1\r\nHost: halfclose." + DOMAIN + "\r\nContent-Length: 5\r\n\r\nhello";
            // control: the name's own TCP port
            try (Socket socket = HttpTestClient.connect(port)) {
                socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
                socket.shutdownOutput();
                assertEquals("POST /p HTTP/1.1 / body after head: 5",
                        HttpTestClient.read(socket.getInputStream()).text());
            }
            // the same through the HTTP ingress
            for (int i = 0; i < 20; i++) {
                try (Socket socket = HttpTestClient.connect(http)) {
                    socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
                    socket.shutdownOutput();
                    assertEquals("POST /p HTTP/1.1 / body after head: 5",
                            HttpTestClient.read(socket.getInputStream()).text(), "attempt " + i);
                }
            }
        }
    }

    /** An upgrade request with a body that the backend answers (not 101) before the body is complete. */
    @Test
    void anEarlyNon101AnswerToAnUpgradeRequestDoesNotStallTheConnection() throws Exception {
        try (Backend backend = new Backend(s -> {
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            head(in);
            out.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            TestServers.readExactly(in, 5); // the body
            head(in); // the next request
            out.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            in.readAllBytes();
        })) {
            fixture.agent(fixture.agentConfig("early", backend.port())).start().get(10, TimeUnit.SECONDS);
            try (Socket socket = HttpTestClient.connect(http)) {
                Response refused = HttpTestClient.exchange(socket, "POST /ws HTTP/1.1\r\nHost: early." + DOMAIN
                        + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 5\r\n\r\n");
                assertEquals(400, refused.status());
                socket.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
                Response next = HttpTestClient.exchange(socket, HttpTestClient.get("early." + DOMAIN, "/next"));
                assertEquals("ok", next.text());
            }
        }
    }

    /** Forwarding headers of any spelling a client sends never reach the backend. */
    @Test
    void clientForwardingHeadersOfEverySpellingAreStripped() throws Exception {
        try (Socket socket = HttpTestClient.connect(http)) {
            Response response = HttpTestClient.exchange(socket, "GET / HTTP/1.1\r\nHost: alpha." + DOMAIN
                    + "\r\nForwarded: for=6.6.6.6;proto=https;host=evil.test\r\nX-Real-IP: 6.6.6.6"
                    + "\r\nX-Forwarded-Port: 1\r\nX-Forwarded-Prefix: /evil\r\nX_Forwarded_For: 6.6.6.6\r\n\r\n");
            String text = response.text();
            assertFalse(text.contains("6.6.6.6") || text.contains("/evil"), text);
        }
    }

    /**
     * The common client-address headers (True-Client-IP, CF-Connecting-IP...) never reach the backend, in the head
     * or in a chunked request's trailers, where Host and X-Forwarded-For are dropped too; other trailers pass.
     */
    @Test
    void clientAddressHeadersAndForgedTrailersAreStripped() throws Exception {
        CompletableFuture<String> seen = new CompletableFuture<>();
        try (Backend backend = new Backend(s -> {
            InputStream in = s.getInputStream();
            StringBuilder all = new StringBuilder(head(in));
            for (String line = HttpTestClient.line(in); line != null; line = HttpTestClient.line(in)) {
                all.append(line).append('\n');
                if (line.isEmpty() && all.indexOf("\n0\n") >= 0) {
                    break; // the empty line after the last chunk and its trailers
                }
            }
            seen.complete(all.toString());
            s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                    .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
        })) {
            fixture.agent(fixture.agentConfig("trailers", backend.port())).start().get(10, TimeUnit.SECONDS);
            try (Socket socket = HttpTestClient.connect(http)) {
                Response response = HttpTestClient.exchange(socket, "POST / HTTP/1.1\r\nHost: trailers." + DOMAIN
                        + "\r\nTrue-Client-IP: 6.6.6.1\r\nX-Client-IP: 6.6.6.2\r\nCF-Connecting-IP: 6.6.6.3"
                        + "\r\nX-Original-Forwarded-For: 6.6.6.4\r\nX-ProxyUser-Ip: 6.6.6.5\r\nClient_IP: 6.6.6.6"
                        + "\r\nTransfer-Encoding: chunked\r\nTrailer: X-Forwarded-For, Host, X-Checksum\r\n\r\n"
                        + "5\r\nhello\r\n0\r\nX-Forwarded-For: 6.6.6.7\r\nHost: evil.test\r\n"
                        + "True-Client-IP: 6.6.6.8\r\nX-Checksum: kept\r\n\r\n");
                assertEquals("ok", response.text());
            }
            String forwarded = seen.get(10, TimeUnit.SECONDS);
            assertFalse(forwarded.contains("6.6.6.") || forwarded.contains("evil.test"), forwarded);
            assertTrue(forwarded.contains("\nhello\n0\nX-Checksum: kept\n"), "other trailers pass: " + forwarded);
        }
    }

    /** The head a raw backend got for one request, and its body (Content-Length), answered with 200 "ok". */
    static TestServers.Handler recordHead(CompletableFuture<String> seen) {
        return s -> {
            InputStream in = s.getInputStream();
            String head = head(in);
            java.util.regex.Matcher length = java.util.regex.Pattern.compile("(?im)^content-length: *(\\d+)$")
                    .matcher(head);
            byte[] body = length.find() ? TestServers.readExactly(in, Integer.parseInt(length.group(1))) : new byte[0];
            seen.complete(head + "\n" + new String(body, StandardCharsets.ISO_8859_1));
            s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                    .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
        };
    }

    /**
     * A client's Connection options must not reach a backend that is itself a proxy, which would delete the headers
     * they name (the gateway's X-Forwarded-For among them): the gateway removes the named headers and the standard
     * hop-by-hop ones, and says only what it means in Connection; the body is still framed by Content-Length.
     */
    @Test
    void hopByHopHeadersAndTheHeadersConnectionNamesStopAtTheGateway() throws Exception {
        CompletableFuture<String> seen = new CompletableFuture<>();
        try (Backend backend = new Backend(recordHead(seen))) {
            fixture.agent(fixture.agentConfig("hop", backend.port())).start().get(10, TimeUnit.SECONDS);
            try (Socket socket = HttpTestClient.connect(http)) {
                Response response = HttpTestClient.exchange(socket, "POST /p HTTP/1.1\r\nHost: hop." + DOMAIN
                        + "\r\nConnection: keep-alive, X-Forwarded-For, X-Secret\r\nConnection: X-Forwarded-Proto,"
                        + " Content-Length, Host, x-forwarded-host\r\nX-Secret: s3cret\r\nKeep-Alive: timeout=99"
                        + "\r\nProxy-Connection: keep-alive\r\nTE: gzip, trailers\r\nUpgrade: websocket"
                        + "\r\nX-Other: kept\r\nContent-Length: 5\r\n\r\nhello");
                assertEquals("ok", response.text());
            }
            String forwarded = seen.get(10, TimeUnit.SECONDS).toLowerCase(java.util.Locale.ROOT);
            assertTrue(forwarded.startsWith("post /p http/1.1\n"), forwarded);
            List<String> lines = List.of(forwarded.split("\n"));
            assertEquals(List.of("connection: keep-alive, te"), lines.stream()
                    .filter(l -> l.startsWith("connection:")).toList(), "only the gateway's options: " + forwarded);
            for (String gone : new String[] {"x-secret", "s3cret", "keep-alive:", "proxy-connection", "upgrade",
                "gzip", "timeout=99"}) {
                assertFalse(forwarded.contains(gone), gone + " reached the backend: " + forwarded);
            }
            for (String kept : new String[] {"\nte: trailers\n", "\nx-forwarded-for: 127.0.0.1\n",
                "\nx-forwarded-proto: http\n", "\nx-forwarded-host: hop." + DOMAIN + "\n", "\nhost: hop." + DOMAIN
                + "\n", "\ncontent-length: 5\n", "\nx-other: kept\n", "\n\nhello"}) {
                assertTrue(forwarded.contains(kept), kept.trim() + " missing: " + forwarded);
            }
        }
    }

    /**
     * An upgrade the ingress carries (the first request of a connection) keeps Upgrade and its Connection option,
     * and an h2c upgrade its HTTP2-Settings; other options are still dropped with the headers they name.
     */
    @Test
    void anUpgradeRequestKeepsWhatTheUpgradeNeeds() throws Exception {
        for (String upgrade : new String[] {"websocket", "h2c"}) {
            CompletableFuture<String> seen = new CompletableFuture<>();
            try (Backend backend = new Backend(recordHead(seen))) {
                fixture.agent(fixture.agentConfig("up" + upgrade.length(), backend.port())).start()
                        .get(10, TimeUnit.SECONDS);
                try (Socket socket = HttpTestClient.connect(http)) {
                    Response response = HttpTestClient.exchange(socket, "GET /u HTTP/1.1\r\nHost: up"
                            + upgrade.length() + "." + DOMAIN + "\r\nConnection: Upgrade, HTTP2-Settings,"
                            + " X-Forwarded-For\r\nUpgrade: " + upgrade + "\r\nHTTP2-Settings: AAMAAABk"
                            + "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
                    assertEquals("ok", response.text());
                }
                String head = seen.get(10, TimeUnit.SECONDS);
                String connection = upgrade.equals("h2c") ? "Upgrade, HTTP2-Settings" : "Upgrade";
                for (String kept : new String[] {"\nconnection: " + connection + "\n", "\nUpgrade: " + upgrade
                    + "\n", "\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n", "\nx-forwarded-for: 127.0.0.1\n"}) {
                    assertTrue(head.contains(kept), kept.trim() + " missing: " + head);
                }
                assertEquals(upgrade.equals("h2c"), head.contains("HTTP2-Settings: AAMAAABk"), head);
            }
        }
    }

    /** Client-address headers of the default list beyond the first ones, and X-Forwarded, never reach a backend. */
    @Test
    void everyDefaultClientAddressHeaderIsStripped() throws Exception {
        StringBuilder request = new StringBuilder("GET / HTTP/1.1\r\nHost: alpha." + DOMAIN + "\r\n");
        String[] names = {"X-Forwarded", "Forwarded-For", "X-Originating-IP", "X-Remote-IP", "X-Remote-Addr",
            "X-AppEngine-User-IP", "CF-Pseudo-IPv4", "Fastly-Client-IP", "X-Cluster-Client-IP", "X_Remote_Addr"};
        for (int i = 0; i < names.length; i++) {
            request.append(names[i]).append(": 6.6.6.").append(10 + i).append("\r\n");
        }
        try (Socket socket = HttpTestClient.connect(http)) {
            String text = HttpTestClient.exchange(socket, request + "\r\n").text();
            assertTrue(text.startsWith("alpha\n"), text);
            assertFalse(text.contains("6.6.6."), text);
        }
    }

    /**
     * An absolute-form target's authority is the host the request is for (RFC 9112, 3.2.2), not Host: it must
     * match the TLS server name (421 otherwise), routes the request on plain HTTP, and reaches the backend as the
     * Host of an origin-form request.
     */
    @Test
    void anAbsoluteFormTargetIsRoutedByItsAuthorityAndForwardedInOriginForm() throws Exception {
        int before = alphaRequests.get();
        try (SSLSocket socket = HttpTestClient.connectTls(https, "beta." + DOMAIN)) {
            Response misdirected = HttpTestClient.exchange(socket, "GET https://alpha." + DOMAIN + "/ HTTP/1.1"
                    + "\r\nHost: beta." + DOMAIN + "\r\n\r\n");
            assertEquals(421, misdirected.status(), misdirected.text());
        }
        assertEquals(before, alphaRequests.get(), "the request never reached alpha");
        try (SSLSocket socket = HttpTestClient.connectTls(https, "alpha." + DOMAIN)) {
            Response same = HttpTestClient.exchange(socket, "GET HTTPS://Alpha." + DOMAIN + ":" + https
                    + "?q=1 HTTP/1.1\r\nHost: beta." + DOMAIN + "\r\n\r\n");
            assertEquals(200, same.status(), same.text());
            assertTrue(same.text().startsWith("alpha\nGET /?q=1\n"), same.text());
            assertTrue(same.text().contains("\nhost: Alpha." + DOMAIN + ":" + https + "\n"), same.text());
            assertFalse(same.text().contains("beta"), same.text());
        }
        before = alphaRequests.get();
        try (Socket socket = HttpTestClient.connect(http)) {
            Response routed = HttpTestClient.exchange(socket, "GET http://beta." + DOMAIN + "/abs?x=1 HTTP/1.1"
                    + "\r\nHost: alpha." + DOMAIN + "\r\n\r\n");
            String text = routed.text();
            assertTrue(text.startsWith("beta\nGET /abs?x=1\n"), "routed by the authority, origin-form: " + text);
            assertTrue(text.contains("\nhost: beta." + DOMAIN + "\n"), text);
            assertTrue(text.contains("\nx-forwarded-host: beta." + DOMAIN + "\n"), text);
            // a later request whose authority names another tunnel is not sent to this one
            socket.getOutputStream().write(("GET http://alpha." + DOMAIN + "/ HTTP/1.1\r\nHost: beta." + DOMAIN
                    + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            assertThrows(EOFException.class, () -> HttpTestClient.read(socket.getInputStream()));
        }
        assertEquals(before, alphaRequests.get(), "alpha saw none of them");
        for (String target : new String[] {"ftp://alpha." + DOMAIN + "/", "http://user@alpha." + DOMAIN + "/",
            "http:///x", "alpha." + DOMAIN + ":80"}) {
            try (Socket socket = HttpTestClient.connect(http)) {
                Response bad = HttpTestClient.exchange(socket, "GET " + target + " HTTP/1.1\r\nHost: alpha." + DOMAIN
                        + "\r\n\r\n");
                assertEquals(400, bad.status(), target + ": " + bad.text());
            }
        }
        assertEquals(before, alphaRequests.get(), "alpha saw none of them");
    }
}
