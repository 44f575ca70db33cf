package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.TrustSettings;
import io.diglett.common.HostPort;
import io.diglett.server.TestServers.Backend;
import io.diglett.common.testing.CliRun;
import io.diglett.server.cli.GatewayReload;
import io.diglett.server.cli.ServerCommand;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.IngressSettings;
import io.diglett.server.config.PublicLimits;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What one public client may hold, over real sockets: connections per client address (name ports and the
 * ingress counted together; refusals in {@code /metrics} and in the log at most once a second), the ingress's
 * idle timeout for keep-alive connections (never cutting a response in progress) and the optional raw TCP idle
 * timeout.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PublicLimitsTests {

    private static final String DOMAIN = "gateway.test";
    private static final InetAddress HOGGER = address("127.0.0.2");
    private static final InetAddress OTHER = address("127.0.0.1");

    private static InetAddress address(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A connection to 127.0.0.1:{@code port} from {@code source}. */
    private static Socket connectFrom(InetAddress source, int port) throws IOException {
        Socket socket = new Socket();
        socket.bind(new InetSocketAddress(source, 0));
        socket.connect(new InetSocketAddress(OTHER, port), 5_000);
        socket.setSoTimeout(10_000);
        return socket;
    }

    private static void assertEchoes(Socket client) throws IOException {
        client.getOutputStream().write('x');
        client.getOutputStream().flush();
        assertEquals('x', client.getInputStream().read());
    }

    /** The gateway ended {@code socket} (FIN or reset) without sending a byte. */
    private static void assertEnded(Socket socket) throws IOException {
        try {
            assertEquals(-1, socket.getInputStream().read());
        } catch (SocketException reset) {
            // reset: ended all the same
        }
    }

    /** A connection from {@code source} to {@code port} is ended at once (a reset may already fail the connect). */
    private static void assertRefused(InetAddress source, int port) throws IOException {
        Socket socket;
        try {
            socket = connectFrom(source, port);
        } catch (SocketException reset) {
            return;
        }
        try (socket) {
            assertEnded(socket);
        }
    }

    private static Backend echo() throws IOException {
        return new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
    }

    private static GatewayConfig withHttpIngress() {
        return GatewayConfig.defaults().withIngress(new IngressSettings(DOMAIN, new HostPort("127.0.0.1", 0), null,
                null, null));
    }

    @Test
    void theConnectionOverTheCapFromOneAddressIsRefusedWhileOthersConnect() throws Exception {
        try (Backend echo = echo(); TunnelFixture fixture = new TunnelFixture(withHttpIngress())) {
            Gateway gateway = fixture.gateway;
            gateway.updatePublicLimits(PublicLimits.defaults().withMaxConnectionsPerIp(3));
            int port = fixture.exposeRaw("web", echo.port());
            int http = gateway.httpPort().getAsInt();
            List<Socket> held = new ArrayList<>();
            try {
                held.add(connectFrom(HOGGER, port));
                held.add(connectFrom(HOGGER, port));
                held.forEach(s -> {
                    try {
                        assertEchoes(s);
                    } catch (IOException e) {
                        throw new AssertionError(e);
                    }
                });
                held.add(connectFrom(HOGGER, http)); // the ingress counts too, before any request
                TunnelTests.waitFor(() -> gateway.clients().open(HOGGER) == 3, "three connections counted");

                assertRefused(HOGGER, port);
                try (Socket page = connectFrom(HOGGER, http)) {
                    HttpTestClient.Response response = HttpTestClient.exchange(page,
                            HttpTestClient.get("web." + DOMAIN, "/"));
                    assertEquals(429, response.status(), response.text());
                    assertEquals("close", response.headers().get("connection"));
                    assertEnded(page);
                }
                try (Socket other = connectFrom(OTHER, port)) {
                    assertEchoes(other); // another address is not held to 127.0.0.2's count
                }
                assertEquals(2, gateway.metrics().connectionsRefused("per_ip_limit"));

                held.remove(0).close(); // a connection that ends gives its place back
                TunnelTests.waitFor(() -> gateway.clients().open(HOGGER) == 2, "the closed connection uncounted");
                try (Socket again = connectFrom(HOGGER, port)) {
                    assertEchoes(again);
                }
            } finally {
                for (Socket s : held) {
                    s.close();
                }
            }
            TunnelTests.waitFor(() -> gateway.clients().sources() == 0, "nothing counted once all are closed");
            assertEquals(2, gateway.metrics().connectionsRefused("per_ip_limit"));
        }
    }

    @Test
    void connectionsABusyAgentCannotTakeAreCountedByReason() throws Exception {
        try (Backend echo = echo(); TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults()
                .withLimits(GatewayConfig.Limits.defaults().withMaxStreamsPerAgent(1)))) {
            int port = fixture.expose("one", echo.port());
            try (Socket first = connectFrom(OTHER, port)) {
                assertEchoes(first);
                assertRefused(OTHER, port);
            }
            assertEquals(1, fixture.gateway.metrics().connectionsRefused("stream_limit"));
            assertEquals(0, fixture.gateway.metrics().connectionsRefused("per_ip_limit"));
        }
    }

    @Test
    @SuppressWarnings("try")
    void aConnectionStillWaitingForItsProxyHeaderTakesNoStreamOfTheAgent() throws Exception {
        try (Backend echo = echo(); TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults()
                .withLimits(GatewayConfig.Limits.defaults().withMaxStreamsPerAgent(1))
                .withForwarding(io.diglett.server.config.ForwardingSettings.defaults().withAcceptProxyFrom(List.of(
                        io.diglett.protocol.Cidr.parse("127.0.0.2/32")))))) {
            int port = fixture.expose("one", echo.port());
            // the balancer's connection is accepted first and sends no PROXY header yet: it is no stream
            try (Socket waiting = connectFrom(HOGGER, port); Socket client = connectFrom(OTHER, port)) {
                assertEchoes(client);
            }
            assertEquals(0, fixture.gateway.metrics().connectionsRefused("stream_limit"));
        }
    }

    @Test
    void aBurstOfRefusalsShowsInMetricsAndLogsAboutOneLineASecond() throws Exception {
        String token = "metrics-t0ken";
        try (Backend echo = echo();
             ChildProcess gateway = ChildProcess.start(ServerCommand.class, "-l", "127.0.0.1:0", "--bind",
                     "127.0.0.1", "--plaintext", "--admin", "127.0.0.1:0", "--admin-token", token,
                     "--max-connections-per-ip", "1")) {
            int agentPort = Integer.parseInt(gateway.await("listening for agents on 127\\.0\\.0\\.1:(\\d+)", 30_000)
                    .group(1));
            int admin = Integer.parseInt(gateway.await("admin endpoint on http://127\\.0\\.0\\.1:(\\d+)/", 30_000)
                    .group(1));
            Agent agent = new Agent(AgentConfig.of(new HostPort("127.0.0.1", agentPort), "", "burst",
                    new HostPort("127.0.0.1", echo.port()), TrustSettings.plain()));
            try (agent; Socket holder = connectFrom(HOGGER, publicPort(agent))) {
                int port = publicPort(agent);
                assertEchoes(holder);
                int burst = 1_000;
                long start = System.nanoTime();
                for (int i = 0; i < burst; i++) {
                    assertRefused(HOGGER, port);
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                HttpClient http = HttpClient.newHttpClient();
                HttpRequest scrape = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin + "/metrics"))
                        .header("Authorization", "Bearer " + token).build();
                String metrics = http.send(scrape, HttpResponse.BodyHandlers.ofString()).body();
                Matcher refusals = Pattern.compile("^diglett_connections_refused_total\\{reason=\"per_ip_limit\"} (\\S+)$",
                        Pattern.MULTILINE).matcher(metrics);
                assertTrue(refusals.find(), metrics);
                assertEquals(burst, Double.parseDouble(refusals.group(1)));

                List<String> lines = gateway.lines().stream()
                        .filter(line -> line.contains("--max-connections-per-ip")).toList();
                assertTrue(!lines.isEmpty() && lines.size() <= Math.ceil(seconds) + 1, lines.size() + " lines for "
                        + burst + " refusals in " + seconds + " s:\n" + String.join("\n", lines));
                // the next line after a pause says how many were left out
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                Pattern summary = Pattern.compile("--max-connections-per-ip\\) \\((\\d+) more like this left out in ");
                while (gateway.lines().stream().noneMatch(line -> summary.matcher(line).find())) {
                    assertTrue(System.nanoTime() < deadline, "no line counts the refusals left out");
                    assertRefused(HOGGER, port);
                    Thread.sleep(100);
                }
                try (Socket other = connectFrom(OTHER, port)) {
                    assertEchoes(other);
                }
            }
        }
    }

    private static int publicPort(Agent agent) throws Exception {
        return agent.start().get(30, TimeUnit.SECONDS).get(0).publicPort();
    }

    /**
     * A keep-alive HTTP backend: {@code /slow} answers after {@code slowMillis}, {@code /pause} sends its head and
     * half its body, pauses {@code slowMillis}, then sends the rest; anything else is answered at once. Each
     * with a Content-Length body.
     */
    private static Backend httpBackend(long slowMillis) throws IOException {
        return new Backend(socket -> {
            InputStream in = socket.getInputStream();
            OutputStream out = socket.getOutputStream();
            for (String line = HttpTestClient.line(in); line != null; line = HttpTestClient.line(in)) {
                String path = line.split(" ")[1];
                for (String header = HttpTestClient.line(in); header != null && !header.isEmpty();
                     header = HttpTestClient.line(in)) {
                    // headers are not needed
                }
                if (path.equals("/slow")) {
                    Thread.sleep(slowMillis);
                }
                byte[] body = ("answer to " + path).getBytes(StandardCharsets.US_ASCII);
                out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                if (path.equals("/pause")) {
                    out.write(body, 0, 5);
                    out.flush();
                    Thread.sleep(slowMillis);
                    out.write(body, 5, body.length - 5);
                } else {
                    out.write(body);
                }
                out.flush();
            }
        });
    }

    @Test
    void anIdleKeepAliveConnectionIsClosedButASlowOrPausingResponseIsNotCut() throws Exception {
        Duration idle = Duration.ofMillis(400);
        try (Backend backend = httpBackend(4 * idle.toMillis());
             TunnelFixture fixture = new TunnelFixture(withHttpIngress())) {
            Gateway gateway = fixture.gateway;
            gateway.updatePublicLimits(PublicLimits.defaults().withIngressIdleTimeout(idle));
            fixture.expose("web", backend.port());
            int http = gateway.httpPort().getAsInt();
            String host = "web." + DOMAIN;

            try (Socket client = HttpTestClient.connect(http)) {
                HttpTestClient.Response slow = HttpTestClient.exchange(client, HttpTestClient.get(host, "/slow"));
                assertEquals("answer to /slow", slow.text(), "a response that takes 4 idle timeouts is not cut");
                HttpTestClient.Response paused = HttpTestClient.exchange(client, HttpTestClient.get(host, "/pause"));
                assertEquals("answer to /pause", paused.text(), "nor one that pauses that long within its body");
                HttpTestClient.Response next = HttpTestClient.exchange(client, HttpTestClient.get(host, "/next"));
                assertEquals("answer to /next", next.text(), "and the connection is still kept alive");
                long answered = System.nanoTime();
                assertEnded(client); // no request in progress: closed after the idle timeout
                long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - answered);
                assertTrue(waited >= idle.toMillis() / 2, "closed after " + waited + " ms, before the timeout");
            }
            assertEquals(1, gateway.metrics().idleCloses("ingress"));
        }
    }

    @Test
    void onTheHttpsIngressAClientOverTheCapIsResetAndAnIdlePassthroughIsResetByTheRawTimeout(@TempDir Path temp)
            throws Exception {
        Path cert = temp.resolve("backend.crt");
        Path key = temp.resolve("backend.key");
        io.diglett.server.tls.GatewayTls.generate(cert, key, "secure backend", List.of("secure." + DOMAIN));
        Duration idle = Duration.ofMillis(500);
        try (Backend tls = new Backend(TlsBackends.server(cert, key),
                s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withIngress(new IngressSettings(
                     DOMAIN, null, new HostPort("127.0.0.1", 0), null, null)))) {
            Gateway gateway = fixture.gateway;
            gateway.updatePublicLimits(PublicLimits.defaults().withMaxConnectionsPerIp(1).withTcpIdleTimeout(idle));
            fixture.agent(fixture.agentConfig("secure", tls.port()).withTunnels(List.of(
                    new io.diglett.agent.TunnelSpec("secure", new HostPort("127.0.0.1", tls.port()))
                            .withTlsPassthrough(true)))).start().get(10, TimeUnit.SECONDS);
            int https = gateway.httpsPort().getAsInt();

            try (Socket held = connectFrom(HOGGER, https)) {
                held.setTcpNoDelay(true); // held open, silent: the ingress waits for its ClientHello
                TunnelTests.waitFor(() -> gateway.clients().open(HOGGER) == 1, "the first connection counted");
                assertRefused(HOGGER, https);
                assertEquals(1, gateway.metrics().connectionsRefused("per_ip_limit"));
            }

            try (javax.net.ssl.SSLSocket socket = HttpTestClient.connectTls(https, "secure." + DOMAIN)) {
                assertEchoes(socket); // through to the backend's own TLS
                long start = System.nanoTime();
                try {
                    assertEquals(-1, socket.getInputStream().read());
                } catch (IOException reset) {
                    // reset: ended all the same
                }
                long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertTrue(waited >= idle.toMillis() / 2, "ended after " + waited + " ms, before the timeout");
            }
            assertEquals(1, gateway.metrics().idleCloses("tcp"));
        }
    }

    @Test
    void theOptionsComeFromTheConfigFileAndASighupReloadAppliesThem(@TempDir Path temp) throws Exception {
        Path config = temp.resolve("gateway.yaml");
        CliRun.write(config, "listen: 127.0.0.1:0\nbind: 127.0.0.1\nplaintext: true\n"
                + "max-connections-per-ip: 7\ningress-idle-timeout: 2.5\n");
        ServerCommand command = CliRun.parse(new ServerCommand(), Map.of(), "--config", config.toString());
        assertEquals(new PublicLimits(7, Duration.ofMillis(2500), Duration.ZERO), command.publicLimits());
        try (TunnelFixture fixture = new TunnelFixture(command.gatewayConfig())) {
            fixture.gateway.updatePublicLimits(command.publicLimits()); // as ServerCommand.call does
            GatewayReload reload = new GatewayReload(command, fixture.gateway);
            CliRun.write(config, "listen: 127.0.0.1:0\nbind: 127.0.0.1\nplaintext: true\n"
                    + "max-connections-per-ip: 0\ningress-idle-timeout: 2.5\ntcp-idle-timeout: 30\n");
            String outcome = reload.reload();
            assertTrue(outcome.contains("public limits max-connections-per-ip 7 -> 0, tcp-idle-timeout 0.0 -> 30.0"),
                    outcome);
            assertEquals(new PublicLimits(0, Duration.ofMillis(2500), Duration.ofSeconds(30)),
                    fixture.gateway.publicLimits());
            CliRun.write(config, "listen: 127.0.0.1:0\nbind: 127.0.0.1\nplaintext: true\n"
                    + "max-connections-per-ip: -1\n");
            assertTrue(reload.reload().contains("public limits kept"), "a negative cap is refused");
            assertEquals(0, fixture.gateway.publicLimits().maxConnectionsPerIp());
        }
        assertEquals(PublicLimits.defaults(), CliRun.parse(new ServerCommand(), Map.of()).publicLimits());
    }

    @Test
    void theRawIdleTimeoutIsOffByDefaultAndResetsAnIdleStreamWhenSet() throws Exception {
        assertEquals(Duration.ZERO, PublicLimits.defaults().tcpIdleTimeout());
        try (Backend echo = echo(); TunnelFixture fixture = new TunnelFixture()) {
            Gateway gateway = fixture.gateway;
            int port = fixture.expose("raw", echo.port());
            try (Socket before = connectFrom(OTHER, port)) {
                assertEchoes(before); // accepted under the defaults: no idle timeout
                Duration idle = Duration.ofMillis(300);
                gateway.updatePublicLimits(PublicLimits.defaults().withTcpIdleTimeout(idle));
                long start;
                try (Socket after = connectFrom(OTHER, port)) {
                    assertEchoes(after);
                    start = System.nanoTime();
                    assertEnded(after);
                }
                long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertTrue(waited >= idle.toMillis() / 2, "reset after " + waited + " ms, before the timeout");
                assertEquals(1, gateway.metrics().idleCloses("tcp"));
                assertEchoes(before); // idle at least as long, and still served
            }
        }
    }
}
