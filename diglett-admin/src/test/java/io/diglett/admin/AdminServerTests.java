package io.diglett.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.HostPort;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The admin endpoint through a real socket on 127.0.0.1, port 0, with java.net.http. */
class AdminServerTests {

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private HttpResponse<String> get(int port, String path, String token) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(10));
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void servesMetricsJsonAndStaticFiles() throws Exception {
        PrometheusRegistry registry = new PrometheusRegistry();
        Counter requests = Counter.builder().name("demo_requests_total").help("demo").labelNames("kind")
                .register(registry);
        requests.labelValues("a").inc(3);
        try (AdminServer admin = new AdminServer(registry, null)
                .route("/api/status", () -> AdminServer.Response.json(new Json().beginObject().name("ok")
                        .value(true).endObject().toString()))
                .staticFiles("/io/diglett/admin/testsite")) {
            int port = admin.start(new HostPort("127.0.0.1", 0)).getPort();
            HttpResponse<String> metrics = get(port, "/metrics", null);
            assertEquals(200, metrics.statusCode());
            assertTrue(metrics.headers().firstValue("content-type").orElse("").startsWith("text/plain"));
            assertTrue(metrics.body().contains("demo_requests_total{kind=\"a\"} 3.0"), metrics.body());
            assertEquals("{\"ok\":true}", get(port, "/api/status", null).body());
            HttpResponse<String> page = get(port, "/", null);
            assertEquals(200, page.statusCode());
            assertTrue(page.body().contains("dash"));
            assertEquals("text/html; charset=utf-8", page.headers().firstValue("content-type").orElse(""));
            assertEquals(404, get(port, "/nothing.html", null).statusCode());
            assertEquals(404, get(port, "/../AdminServer.class", null).statusCode());
            HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                    + "/metrics")).POST(HttpRequest.BodyPublishers.ofString("x")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(405, post.statusCode());
        }
    }

    @Test
    void aTokenIsRequiredWhenConfigured() throws Exception {
        try (AdminServer admin = new AdminServer(new PrometheusRegistry(), "s3cret")
                .route("/api/x", () -> AdminServer.Response.json("[]")).staticFiles("/io/diglett/admin/testsite")) {
            int port = admin.start(new HostPort("127.0.0.1", 0)).getPort();
            assertEquals(401, get(port, "/metrics", null).statusCode());
            assertEquals(401, get(port, "/api/x", null).statusCode());
            assertEquals(200, get(port, "/", null).statusCode(), "the bundled page holds no data");
            assertEquals(404, get(port, "/nothing.html", "s3cret").statusCode());
            assertEquals(401, get(port, "/metrics", "wrong").statusCode());
            assertEquals(200, get(port, "/metrics", "s3cret").statusCode());
            assertEquals(401, get(port, "/metrics?token=s3cret", null).statusCode(), "only in the header");
            assertEquals(401, get(port, "/api/x?token=s3cret", null).statusCode(), "only in the header");
        }
    }

    /** The status line of a GET {@code path} sent by hand with {@code host} as Host header (none if null). */
    private static String statusWithHost(int port, String path, String host, String token) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(10_000);
            String request = "GET " + path + " HTTP/1.1\r\n" + (host == null ? "" : "Host: " + host + "\r\n")
                    + (token == null ? "" : "Authorization: Bearer " + token + "\r\n") + "Connection: close\r\n\r\n";
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            String response = new String(socket.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            return response.lines().findFirst().orElse("");
        }
    }

    /**
     * DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends {@code Host: evil.example};
     * only the endpoint's own address, localhost (it listens on loopback) and --admin-host names are answered.
     */
    @Test
    void onlyItsOwnAddressAndConfiguredNamesAreAnswered() throws Exception {
        try (AdminServer admin = new AdminServer(new PrometheusRegistry(), "s3cret")
                .route("/api/x", () -> AdminServer.Response.json("[]")).staticFiles("/io/diglett/admin/testsite")
                .hosts(List.of("Admin.Example.NET"))) {
            int port = admin.start(new HostPort("127.0.0.1", 0)).getPort();
            for (String host : new String[] {"127.0.0.1:" + port, "127.0.0.1", "localhost:" + port, "LOCALHOST.",
                "admin.example.net:" + port, "admin.example.net.", "ADMIN.example.net"}) {
                assertEquals("HTTP/1.1 200 OK", statusWithHost(port, "/api/x", host, "s3cret"), host);
            }
            for (String host : new String[] {"evil.example:" + port, "evil.example", "127.0.0.2:" + port, "[::1]:"
                + port, "admin.example.net.evil.example", "127.0.0.1.nip.io:" + port, "", "[::1", "1:2:3"}) {
                assertEquals("HTTP/1.1 421 Misdirected Request", statusWithHost(port, "/api/x", host, "s3cret"),
                        host);
                assertEquals("HTTP/1.1 421 Misdirected Request", statusWithHost(port, "/", host, null), host);
            }
            assertEquals("HTTP/1.1 400 Bad Request", statusWithHost(port, "/api/x", null, "s3cret"));
        }
    }

    @Test
    void anEndpointBeyondLoopbackNeedsAToken() throws Exception {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> new AdminServer(new PrometheusRegistry(), null).start(new HostPort("0.0.0.0", 0)));
        assertEquals("--admin 0.0.0.0:0 is reachable beyond this host: give it a token (--admin-token or"
                + " DIGLETT_ADMIN_TOKEN), or bind it to 127.0.0.1", refused.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new AdminServer(new PrometheusRegistry(), "").start(new HostPort("::", 0)));
        // loopback needs none; a token allows any address (checked without binding one)
        try (AdminServer admin = new AdminServer(new PrometheusRegistry(), null)) {
            admin.start(new HostPort("127.0.0.1", 0));
        }
        AdminServer.requireTokenBeyondLoopback(new HostPort("localhost", 9100), false);
        AdminServer.requireTokenBeyondLoopback(new HostPort("0.0.0.0", 9100), true);
    }

    @Test
    void aBarePortMeansLocalhost() {
        assertEquals(new HostPort("127.0.0.1", 9100), AdminServer.parseAddress("9100"));
        assertEquals(new HostPort("0.0.0.0", 9100), AdminServer.parseAddress("0.0.0.0:9100"));
    }

    @Test
    void jsonEscapesAndNests() {
        String json = new Json().beginObject().name("a").value("q\"\\\n\u0001").name("list").beginArray().value(1)
                .value(2.5).beginObject().name("x").value((String) null).endObject().endArray().name("b")
                .value(false).endObject().toString();
        assertEquals("{\"a\":\"q\\\"\\\\\\n\\u0001\",\"list\":[1,2.5,{\"x\":null}],\"b\":false}", json);
    }
}
