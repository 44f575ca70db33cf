package io.diglett.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.HostPort;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
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
            assertEquals(200, get(port, "/metrics?token=s3cret", null).statusCode());
        }
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
