package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.common.HostPort;
import io.diglett.server.TestServers.Backend;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.yaml.snakeyaml.Yaml;

/** The agent's admin endpoint ({@code --admin}) after real traffic through a real gateway. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AgentAdminTests {

    @Test
    void statusAndMetricsShowTheTunnelItsTrafficAndTheRecentConnections() throws Exception {
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture()) {
            Agent agent = fixture.agent(fixture.agentConfig("watched", echo.port()));
            int admin = agent.startAdmin(new HostPort("127.0.0.1", 0), null).getPort();
            int port = agent.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
            for (int i = 0; i < 3; i++) {
                try (Socket client = TestServers.connect(port)) {
                    client.setSoTimeout(10_000);
                    client.getOutputStream().write(new byte[1000]);
                    client.shutdownOutput();
                    assertEquals(1000, client.getInputStream().readAllBytes().length);
                }
            }
            HttpClient http = HttpClient.newHttpClient();
            TunnelTests.waitFor(() -> agent.status().recent().size() == 3, "three connections recorded");
            String json = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin + "/api/status"))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
            Map<?, ?> status = new Yaml().load(json);
            assertEquals("online", status.get("state"), json);
            assertEquals(fixture.gateway.fingerprint().toString(), status.get("fingerprint"));
            Map<?, ?> tunnel = (Map<?, ?>) ((List<?>) status.get("tunnels")).get(0);
            assertEquals("watched", tunnel.get("name"));
            assertEquals(port, tunnel.get("publicPort"));
            assertEquals(3, tunnel.get("connections"));
            assertEquals(3000, tunnel.get("bytesIn"));
            assertEquals(3000, tunnel.get("bytesOut"));
            List<?> recent = (List<?>) status.get("recent");
            assertEquals(3, recent.size());
            assertEquals("closed", ((Map<?, ?>) recent.get(0)).get("result"));

            String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin + "/metrics"))
                    .build(), HttpResponse.BodyHandlers.ofString()).body();
            assertTrue(metrics.contains("diglett_agent_tunnel_bytes_total{direction=\"in\",name=\"watched\"} 3000.0"),
                    metrics);
            assertTrue(metrics.contains("diglett_agent_connections_total{name=\"watched\"} 3.0"), metrics);
            assertTrue(metrics.contains("diglett_agent_online 1.0"), metrics);
            assertTrue(new String(metrics.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8)
                    .contains("jvm_threads_current"), "JVM basics");
        }
    }
}
