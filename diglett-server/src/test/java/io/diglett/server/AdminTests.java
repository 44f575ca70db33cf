package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.HostPort;
import io.diglett.server.TestServers.Backend;
import io.diglett.server.TestServers.RandomBytes;
import java.io.IOException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.yaml.snakeyaml.Yaml;

/**
 * The gateway's admin endpoint after real traffic: a known number of streams and bytes through a tunnel,
 * then {@code /metrics}, {@code /api/tunnels} and the dashboard (in headless chromium) must show exactly that.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AdminTests {

    private static final int STREAMS = 7;
    private static final int SIZE = 300_000;
    private static final String TOKEN = "admin-s3cret";

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private String get(int port, String path) throws Exception {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Authorization", "Bearer " + TOKEN).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), path + ": " + response.body());
        return response.body();
    }

    /** The value of the one sample of {@code metric} whose line contains every label given. */
    private static double sample(String metrics, String metric, String... labels) {
        Pattern line = Pattern.compile("^" + Pattern.quote(metric) + "(\\{[^}]*})? (\\S+)$", Pattern.MULTILINE);
        Matcher m = line.matcher(metrics);
        while (m.find()) {
            String set = m.group(1) == null ? "" : m.group(1);
            if (List.of(labels).stream().allMatch(set::contains)) {
                return Double.parseDouble(m.group(2));
            }
        }
        throw new AssertionError("no sample " + metric + " " + List.of(labels) + " in:\n" + metrics);
    }

    @Test
    void metricsAndTheTunnelApiCountRealTraffic() throws Exception {
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture()) {
            int admin = fixture.gateway.startAdmin(new HostPort("127.0.0.1", 0), TOKEN).getPort();
            int port = fixture.expose("metered", echo.port());
            for (int i = 0; i < STREAMS; i++) {
                try (Socket client = TestServers.connect(port)) {
                    client.setSoTimeout(10_000);
                    RandomBytes.write(i, SIZE, client.getOutputStream());
                    client.shutdownOutput();
                    assertEquals(SIZE, TestServers.digestUntil(client.getInputStream(), Long.MAX_VALUE).length());
                }
            }
            // a second agent asking for the same name, and a connection that is not an agent at all
            assertTrue(fixture.agent(fixture.agentConfig("metered", echo.port())).start()
                    .handle((ok, error) -> error).get(10, TimeUnit.SECONDS) != null);
            try (Socket junk = TestServers.connect(fixture.address.getPort())) {
                junk.getOutputStream().write("GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                junk.getInputStream().readAllBytes();
            }
            TunnelTests.waitFor(() -> {
                try {
                    return get(admin, "/metrics").contains("diglett_tunnel_streams_open{name=\"metered\"} 0.0")
                            && fixture.gateway.agents() == 1;
                } catch (Exception e) {
                    return false;
                }
            }, "every stream closed");

            String metrics = get(admin, "/metrics");
            assertEquals(STREAMS * (double) SIZE, sample(metrics, "diglett_tunnel_bytes_total", "name=\"metered\"",
                    "direction=\"in\""), metrics);
            assertEquals(STREAMS * (double) SIZE, sample(metrics, "diglett_tunnel_bytes_total", "name=\"metered\"",
                    "direction=\"out\""));
            assertEquals(STREAMS, sample(metrics, "diglett_tunnel_connections_total", "name=\"metered\""));
            assertEquals(STREAMS, sample(metrics, "diglett_stream_open_seconds_count"));
            assertEquals(1, sample(metrics, "diglett_agents_connected"));
            assertEquals(1, sample(metrics, "diglett_tunnels"));
            assertEquals(0, sample(metrics, "diglett_streams_open"));
            assertEquals(1, sample(metrics, "diglett_tunnel_info", "name=\"metered\"", "port=\"" + port + "\""));
            assertEquals(1, sample(metrics, "diglett_auth_failures_total", "reason=\"name_in_use\""));
            assertEquals(1, sample(metrics, "diglett_handshake_failures_total", "reason=\"not_tls\""));
            assertTrue(sample(metrics, "jvm_memory_used_bytes", "area=\"heap\"") > 0, "JVM basics");

            @SuppressWarnings("unchecked")
            List<Map<String, Object>> tunnels = (List<Map<String, Object>>) new Yaml().load(get(admin, "/api/tunnels"));
            assertEquals(1, tunnels.size());
            Map<String, Object> tunnel = tunnels.get(0);
            assertEquals("metered", tunnel.get("name"));
            assertEquals(port, tunnel.get("port"));
            assertEquals(STREAMS, ((Number) tunnel.get("connections")).intValue());
            assertEquals(STREAMS * (long) SIZE, ((Number) tunnel.get("bytesIn")).longValue());
            assertEquals(STREAMS * (long) SIZE, ((Number) tunnel.get("bytesOut")).longValue());
            assertEquals(0, tunnel.get("streams"));
            assertTrue(String.valueOf(tunnel.get("agent")).startsWith("127.0.0.1:"), String.valueOf(tunnel));
            assertTrue(tunnel.get("since") instanceof String);

            Map<?, ?> summary = new Yaml().load(get(admin, "/api/gateway"));
            assertEquals(1, summary.get("agents"));
            assertEquals(fixture.gateway.fingerprint().toString(), summary.get("fingerprint"));

            HttpResponse<String> anonymous = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin
                    + "/api/tunnels")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(401, anonymous.statusCode(), "the token is required");

            dashboardShowsTheTunnel(admin);
        }
    }

    /** Headless chromium renders the dashboard from the gateway's jar and fills the table from the API. */
    private static void dashboardShowsTheTunnel(int admin) throws IOException, InterruptedException {
        Path profile = Files.createTempDirectory("diglett-chromium");
        try {
            Process browser = new ProcessBuilder(BrowserTests.findChromium(), "--headless", "--no-sandbox",
                    "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile, "--virtual-time-budget=4000",
                    "--dump-dom", "http://127.0.0.1:" + admin + "/#token=" + TOKEN)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String dom = new String(browser.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(browser.waitFor(60, TimeUnit.SECONDS));
            assertTrue(dom.contains("<tr data-name=\"metered\">"), dom);
            assertTrue(dom.contains("class=\"num connections\">" + STREAMS + "<"), dom);
            assertTrue(dom.contains("1 agent(s), 1 tunnel(s)"), dom);
        } finally {
            BrowserTests.deleteTree(profile);
        }
    }
}
