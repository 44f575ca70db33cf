package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.TunnelSpec;
import io.diglett.common.HostPort;
import io.diglett.protocol.Policy;
import io.diglett.server.auth.Authenticator;
import io.diglett.server.auth.FileAuthenticator;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.IngressSettings;
import io.diglett.server.registrar.Registrar;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Visitor policies at the gateway (docs/policy.md), through real sockets: clients connect from distinct loopback
 * addresses (127.0.0.2, .3, ...), to raw ports and to the HTTP ingress.
 */
class PolicyTests {

    private static final String DOMAIN = "policy.test";

    /** A connection to 127.0.0.1:{@code port} from {@code from}. */
    private static Socket from(String from, int port) throws IOException {
        Socket socket = new Socket();
        socket.bind(new InetSocketAddress(from, 0));
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
        socket.setSoTimeout(10_000);
        return socket;
    }

    /** An HTTP GET for NAME.policy.test from {@code from}, on a new connection: the status. */
    private static HttpTestClient.Response get(String from, int port, String name) throws IOException {
        try (Socket socket = from(from, port)) {
            return HttpTestClient.exchange(socket, HttpTestClient.get(name + "." + DOMAIN, "/"));
        }
    }

    /** Whether a connection from {@code from} is closed before any byte comes back (an echo otherwise). */
    private static boolean closedAtOnce(String from, int port) throws IOException {
        Socket connected;
        try {
            connected = from(from, port);
        } catch (SocketException reset) {
            return true; // reset before the connect call even returned
        }
        try (Socket socket = connected) {
            try {
                socket.getOutputStream().write('x'); // may already meet the reset
                return socket.getInputStream().read() < 0;
            } catch (SocketException reset) {
                return true;
            }
        }
    }

    private static TunnelSpec spec(String name, int port, String policy) {
        return new TunnelSpec(name, new HostPort("127.0.0.1", port)).withPolicy(Policy.parse(policy));
    }

    private static AgentConfig agent(TunnelFixture fixture, TunnelSpec spec) {
        return fixture.agentConfig(spec.name(), spec.backend().port()).withTunnels(List.of(spec));
    }

    @Test
    void rawConnectionsOutsideTheAllowedBlocksAreClosedAtOnceAndReachNoBackend() throws Exception {
        AtomicInteger accepted = new AtomicInteger();
        try (TestServers.Backend echo = new TestServers.Backend(s -> {
                accepted.incrementAndGet();
                s.getInputStream().transferTo(s.getOutputStream());
            });
             TunnelFixture fixture = new TunnelFixture()) {
            int port = fixture.expose(agent(fixture, spec("raw", echo.port(),
                    "allow-cidr 127.0.0.2/32\nallow-cidr 127.0.0.4/31\ndeny-cidr 127.0.0.5\n")));
            assertTrue(closedAtOnce("127.0.0.3", port), "outside every allowed block");
            assertTrue(closedAtOnce("127.0.0.5", port), "denied inside an allowed block");
            assertEquals(0, accepted.get(), "nothing reached the backend");
            assertTrue(!closedAtOnce("127.0.0.2", port), "allowed: echoed");
            assertTrue(!closedAtOnce("127.0.0.4", port), "allowed: echoed");
            assertEquals(2, accepted.get());
        }
    }

    @Test
    void httpRequestsGet403And429WithRetryAfterAndTheRateRecovers() throws Exception {
        GatewayConfig config = GatewayConfig.defaults().withIngress(new IngressSettings(DOMAIN,
                new HostPort("127.0.0.1", 0), null, null, null));
        com.sun.net.httpserver.HttpServer backend = IngressTests.backend("web", new AtomicInteger());
        try (TunnelFixture fixture = new TunnelFixture(config)) {
            fixture.expose(agent(fixture, spec("web", backend.getAddress().getPort(),
                    "deny-cidr 127.0.0.3/32\nrate-limit 2/s\n")));
            int http = fixture.gateway.httpPort().orElseThrow();
            assertEquals(403, get("127.0.0.3", http, "web").status(), "denied");
            assertEquals(200, get("127.0.0.2", http, "web").status());
            assertEquals(200, get("127.0.0.2", http, "web").status(), "a burst of 2");
            HttpTestClient.Response limited = get("127.0.0.2", http, "web");
            assertEquals(429, limited.status());
            assertEquals("1", limited.headers().get("retry-after"));
            assertEquals(200, get("127.0.0.4", http, "web").status(), "another address has its own rate");
            assertEquals(200, statusOnceNot(429, "127.0.0.2", http, "web", 3),
                    "the rate recovers within a second or so");
            InetSocketAddress admin = fixture.gateway.startAdmin(new HostPort("127.0.0.1", 0), null);
            String tunnels = AcmeTests.adminGet(admin, "/api/tunnels");
            assertTrue(tunnels.contains("\"policy\":{\"allow\":[],\"deny\":[\"127.0.0.3/32\"],\"rateLimit\":2,"),
                    tunnels);
            String metrics = AcmeTests.adminGet(admin, "/metrics");
            assertTrue(metrics.contains("diglett_policy_decisions_total{name=\"web\",result=\"denied\"} 1.0"),
                    metrics);
            assertTrue(metrics.contains("diglett_policy_decisions_total{name=\"web\",result=\"limited\"}"), metrics);
        } finally {
            backend.stop(0);
        }
    }

    /**
     * GETs NAME from {@code from} every 100 ms until the status is no longer {@code was}, or {@code seconds} pass;
     * returns the last status (waiting on the gateway's state to change, not asserting after a sleep).
     */
    private static int statusOnceNot(int was, String from, int port, String name, int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        int status = get(from, port, name).status();
        while (status == was && System.nanoTime() < deadline) {
            Thread.sleep(100);
            status = get(from, port, name).status();
        }
        return status;
    }

    @Test
    void rawConnectionsOverTheRateAreClosed() throws Exception {
        try (TestServers.Backend echo = new TestServers.Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture()) {
            int port = fixture.expose(agent(fixture, spec("slow", echo.port(), "rate-limit 1/s\n")));
            assertTrue(!closedAtOnce("127.0.0.2", port), "the first");
            assertTrue(closedAtOnce("127.0.0.2", port), "the second within the second");
            assertTrue(!closedAtOnce("127.0.0.3", port), "another address");
        }
    }

    @Test
    void theOperatorsPolicyNarrowsTheAgentsAndAnAgentCannotWidenIt(@TempDir Path dir) throws Exception {
        Path tokens = Files.writeString(dir.resolve("tokens"),
                "ci-secret ci-* allow-cidr=127.0.0.2/32 rate-limit=50/s\nfree-secret *\n");
        Authenticator file = FileAuthenticator.start(tokens, Duration.ofSeconds(60));
        GatewayConfig config = GatewayConfig.defaults().withIngress(new IngressSettings(DOMAIN,
                new HostPort("127.0.0.1", 0), null, null, null));
        com.sun.net.httpserver.HttpServer backend = IngressTests.backend("ci", new AtomicInteger());
        try (TunnelFixture fixture = new TunnelFixture(config, file, Registrar.log())) {
            int port = backend.getAddress().getPort();
            int http = fixture.gateway.httpPort().orElseThrow();
            fixture.expose(agent(fixture, spec("ci-plain", port, "")).withToken("ci-secret"));
            fixture.expose(agent(fixture, spec("ci-wide", port, "allow-cidr 0.0.0.0/0\nrate-limit 100/s\n"))
                    .withToken("ci-secret"));
            fixture.expose(agent(fixture, spec("free", port, "")).withToken("free-secret"));
            for (String name : List.of("ci-plain", "ci-wide")) {
                assertEquals(200, get("127.0.0.2", http, name).status(), name);
                assertEquals(403, get("127.0.0.3", http, name).status(), name + ": the operator's block holds");
            }
            assertEquals(200, get("127.0.0.3", http, "free").status(), "another token's names are open");
            Agent outside = fixture.agent(agent(fixture, spec("ci-outside", port, "allow-cidr 192.0.2.0/24\n"))
                    .withToken("ci-secret"));
            ExecutionException refused = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                    () -> outside.start().get(10, TimeUnit.SECONDS));
            assertTrue(refused.getCause().getMessage().contains("lies outside what the operator allows"),
                    refused.getCause().getMessage());
            assertEquals(404, get("127.0.0.2", http, "ci-outside").status(), "never exposed");
            // the operator denies 127.0.0.2 too: the live names get it at once, without their agents reconnecting
            Files.writeString(tokens, "ci-secret ci-* allow-cidr=127.0.0.2/32 deny-cidr=127.0.0.2 rate-limit=50/s\n"
                    + "free-secret *\n");
            file.reload();
            assertEquals(403, statusOnceNot(200, "127.0.0.2", http, "ci-plain", 5),
                    "the new operator policy holds for the live name");
        } finally {
            backend.stop(0);
        }
    }

    /**
     * An operator's login added to a live raw-port name would be skipped by its port (only the HTTP ingress asks for
     * it): the name is withdrawn with the reason instead of staying open there.
     */
    @Test
    void aLoginTheOperatorAddsToALiveRawNameWithdrawsIt(@TempDir Path dir) throws Exception {
        Path tokens = Files.writeString(dir.resolve("tokens"), "raw-secret raw-*\n");
        Authenticator file = FileAuthenticator.start(tokens, Duration.ofSeconds(60));
        GatewayConfig config = GatewayConfig.defaults().withIngress(new IngressSettings(DOMAIN,
                new HostPort("127.0.0.1", 0), null, null, null));
        try (TestServers.Backend echo = new TestServers.Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture(config, file, Registrar.log())) {
            int port = fixture.expose(agent(fixture, spec("raw-db", echo.port(), "").withRawPort(true))
                    .withToken("raw-secret"));
            assertTrue(!closedAtOnce("127.0.0.2", port), "open before");
            Files.writeString(tokens, "raw-secret raw-* basic-auth=" + Policy.BasicCredential.hash("ops", "pw") + "\n");
            file.reload();
            TunnelTests.waitFor(() -> fixture.gateway.registrations().names().target("raw-db").isEmpty(),
                    "the name withdrawn");
            assertTrue(closedAtOnce("127.0.0.2", port), "its raw port no longer lets anyone in");
        }
    }

    @Test
    void anUnknownRuleIsRefusedWithItsName() throws Exception {
        try (TunnelFixture fixture = new TunnelFixture();
             RawAgent raw = RawAgent.over(HttpTestClient.connectTls(fixture.address.getPort(), "localhost"))
                     .loggedIn()) {
            raw.send(io.diglett.protocol.FrameKind.POLICY, 1,
                    "saml-metadata https://id.example.com\n".getBytes(StandardCharsets.UTF_8));
            raw.send(io.diglett.protocol.FrameKind.REGISTER, 1, "web");
            RawAgent.RawFrame answer = raw.read();
            assertEquals(io.diglett.protocol.FrameKind.ERROR.code(), answer.kind());
            assertTrue(answer.text().startsWith("visitor policy refused: unknown policy rule 'saml-metadata'"),
                    answer.text());
        }
    }

    /** What a backend says about a request it got. */
    private interface Saying {
        String about(com.sun.net.httpserver.HttpExchange exchange) throws IOException;
    }

    /** An HTTP backend on 127.0.0.1 that answers each request 200 with what {@code saying} says of it. */
    private static com.sun.net.httpserver.HttpServer backendSaying(Saying saying) throws IOException {
        com.sun.net.httpserver.HttpServer server = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            byte[] body = saying.about(exchange).getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.start();
        return server;
    }

    /** Header rules: the backend sees the name's headers, never the client's of those names. */
    @Test
    void requestHeaderRulesSetAndRemoveWhatTheBackendSees() throws Exception {
        GatewayConfig config = GatewayConfig.defaults().withIngress(new IngressSettings(DOMAIN,
                new HostPort("127.0.0.1", 0), null, null, null));
        com.sun.net.httpserver.HttpServer headers = backendSaying(exchange -> {
            StringBuilder seen = new StringBuilder();
            exchange.getRequestHeaders().forEach((name, values) -> seen.append(name.toLowerCase())
                    .append('=').append(String.join(",", values)).append('\n'));
            return seen.append("body=").append(new String(exchange.getRequestBody().readAllBytes(),
                    StandardCharsets.UTF_8)).toString();
        });
        try (TunnelFixture fixture = new TunnelFixture(config)) {
            int port = headers.getAddress().getPort();
            fixture.expose(agent(fixture, spec("hdr", port,
                    "request-header X-Api-Key: s3cret\nremove-request-header Cookie\n")));
            int http = fixture.gateway.httpPort().orElseThrow();
            try (Socket socket = from("127.0.0.2", http)) {
                HttpTestClient.Response response = HttpTestClient.exchange(socket, "GET / HTTP/1.1\r\nHost: hdr."
                        + DOMAIN + "\r\nX-Api-Key: forged\r\nCookie: session=stolen\r\nX-Diglett-User: mallory\r\n\r\n");
                String seen = new String(response.body(), StandardCharsets.UTF_8);
                assertTrue(seen.contains("x-api-key=s3cret\n"), seen);
                assertTrue(!seen.contains("forged") && !seen.contains("cookie") && !seen.contains("mallory"), seen);
            }
            Agent raw = fixture.agent(agent(fixture, spec("hdr-raw", port, "request-header X-A: b\n")
                    .withRawPort(true)));
            ExecutionException refused = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                    () -> raw.start().get(10, TimeUnit.SECONDS));
            assertTrue(refused.getCause().getMessage().contains("act on the HTTP ingress only, and 'hdr-raw' also has"
                    + " a raw port"), refused.getCause().getMessage());
        } finally {
            headers.stop(0);
        }
    }

    /** Basic auth: 401 without valid credentials; with them the backend gets the user, never the password. */
    @Test
    void basicAuthAsksForAUserAndTheBackendSeesWhoNotThePassword() throws Exception {
        GatewayConfig config = GatewayConfig.defaults().withIngress(new IngressSettings(DOMAIN,
                new HostPort("127.0.0.1", 0), null, null, null));
        java.util.Queue<String> paths = new java.util.concurrent.ConcurrentLinkedQueue<>();
        com.sun.net.httpserver.HttpServer echo = backendSaying(exchange -> (paths.add(exchange.getRequestURI()
                .getPath()) ? "user=" : "") + exchange.getRequestHeaders().getFirst("X-Diglett-User") + " authorization="
                + exchange.getRequestHeaders().getFirst("Authorization") + " body="
                + new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
        String alice = "Basic " + java.util.Base64.getEncoder().encodeToString("alice:s3cret".getBytes(
                StandardCharsets.UTF_8));
        String wrong = "Basic " + java.util.Base64.getEncoder().encodeToString("alice:guess".getBytes(
                StandardCharsets.UTF_8));
        String nobody = "Basic " + java.util.Base64.getEncoder().encodeToString("mallory:s3cret".getBytes(
                StandardCharsets.UTF_8));
        try (TunnelFixture fixture = new TunnelFixture(config)) {
            String line = "basic-auth " + Policy.BasicCredential.hash("alice", "s3cret") + "\n";
            assertTrue(!line.contains("s3cret"), "the policy carries a hash, never the password");
            fixture.expose(agent(fixture, spec("locked", echo.getAddress().getPort(), line)));
            int http = fixture.gateway.httpPort().orElseThrow();
            HttpTestClient.Response missing = get("127.0.0.2", http, "locked");
            assertEquals(401, missing.status());
            assertEquals("Basic realm=\"locked.policy.test\", charset=\"UTF-8\"", missing.headers().get("www-authenticate"));
            for (String refused : List.of(wrong, nobody, "Basic !!!", "Bearer x")) {
                try (Socket socket = from("127.0.0.2", http)) {
                    assertEquals(401, HttpTestClient.exchange(socket, "GET / HTTP/1.1\r\nHost: locked." + DOMAIN
                            + "\r\nAuthorization: " + refused + "\r\n\r\n").status(), refused);
                }
            }
            try (Socket socket = from("127.0.0.2", http)) {
                // the first request waits for the password check with its body read: the body arrives whole
                HttpTestClient.Response first = HttpTestClient.exchange(socket, "POST / HTTP/1.1\r\nHost: locked."
                        + DOMAIN + "\r\nAuthorization: " + alice + "\r\nX-Diglett-User: mallory\r\n"
                        + "Content-Length: 5\r\n\r\nhello");
                assertEquals(200, first.status());
                assertEquals("user=alice authorization=null body=hello", new String(first.body(), StandardCharsets.UTF_8));
                HttpTestClient.Response again = HttpTestClient.exchange(socket, "GET / HTTP/1.1\r\nHost: locked."
                        + DOMAIN + "\r\nAuthorization: " + alice + "\r\n\r\n");
                assertEquals(200, again.status(), "the same connection, verified once");
            }
            try (Socket socket = from("127.0.0.3", http)) {
                // a request pipelined behind one whose password is being checked is never taken for its body,
                // and without credentials of its own it is not forwarded: the connection ends after the first
                String smuggled = "GET /smuggled HTTP/1.1\r\nHost: locked." + DOMAIN + "\r\nX-Diglett-User: admin\r\n\r\n";
                socket.getOutputStream().write(("POST / HTTP/1.1\r\nHost: locked." + DOMAIN + "\r\nAuthorization: "
                        + alice + "\r\nContent-Length: 5\r\n\r\nhello"
                        + "POST / HTTP/1.1\r\nHost: locked." + DOMAIN + "\r\nContent-Length: " + smuggled.length()
                        + "\r\n\r\n" + smuggled).getBytes(StandardCharsets.ISO_8859_1));
                HttpTestClient.Response first = HttpTestClient.read(socket.getInputStream());
                assertEquals("user=alice authorization=null body=hello", new String(first.body(), StandardCharsets.UTF_8));
                org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                        () -> HttpTestClient.read(socket.getInputStream()),
                        "no second response: the connection ended");
            }
            // requests reach the backend in the order sent: once a later one arrives, the smuggled one would have
            try (Socket socket = from("127.0.0.2", http)) {
                assertEquals(200, HttpTestClient.exchange(socket, "GET /later HTTP/1.1\r\nHost: locked." + DOMAIN
                        + "\r\nAuthorization: " + alice + "\r\n\r\n").status());
            }
            assertTrue(!paths.contains("/smuggled"), "the unchecked request's body, a request itself, never reached"
                    + " the backend: " + paths);
        } finally {
            echo.stop(0);
        }
    }
}
