package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.HostPort;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.node.NodeForward;
import io.diglett.server.auth.Authenticator;
import io.diglett.server.cluster.EtcdNameRegistry;
import io.diglett.server.cluster.EtcdStore;
import io.diglett.server.config.ClusterSettings;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.TlsSettings;
import io.diglett.server.registrar.Registrar;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Several gateway nodes on one real etcd (issue 18, docs/cluster.md): nodes on 127.0.0.2, 127.0.0.3 and 127.0.0.4
 * in this JVM (one in a JVM of its own where the test kills it), agents speaking the protocol byte by byte. A name
 * is one agent's in the whole cluster; the same agent reconnecting to another node takes its name over; a dead
 * node's names are free after its lease; etcd stopped and started again; a node with another certificate, or
 * the name of a live node, does not start.
 */
@Timeout(120)
class ClusterTests {

    private static EtcdServer etcd;

    @BeforeAll
    static void startEtcd() throws Exception {
        etcd = EtcdServer.start("127.0.0.1");
    }

    @AfterAll
    static void stopEtcd() throws Exception {
        if (etcd != null) {
            etcd.close();
        }
    }

    /** One gateway node of the cluster, on its own loopback address. */
    private static final class Node implements AutoCloseable {
        final Gateway gateway;
        final InetSocketAddress address;

        Node(Gateway gateway, InetSocketAddress address) {
            this.gateway = gateway;
            this.address = address;
        }

        @Override
        public void close() {
            gateway.close();
        }
    }

    private static Node node(EtcdServer store, String host, String name, GatewayConfig base, Duration ttl)
            throws Exception {
        GatewayConfig config = base.withListen(new HostPort(host, 0)).withPublicBind(host);
        return start(config, ClusterSettings.of(List.of(store.url()), name).withLeaseTtl(ttl));
    }

    /** Starts a gateway with {@code config} as a node of {@code cluster}. */
    private static Node start(GatewayConfig config, ClusterSettings cluster) throws Exception {
        return start(config, cluster, Authenticator.open());
    }

    private static Node start(GatewayConfig config, ClusterSettings cluster, Authenticator authenticator)
            throws Exception {
        Gateway gateway = new Gateway(config, authenticator, Registrar.log(),
                new EtcdNameRegistry(new EtcdStore(cluster)));
        try {
            return new Node(gateway, gateway.start());
        } catch (Exception e) {
            gateway.close();
            throw e;
        }
    }

    private static Node node(String host, String name) throws Exception {
        return node(etcd, host, name, GatewayConfig.defaults().withTls(TlsSettings.plain()),
                ClusterSettings.DEFAULT_LEASE_TTL);
    }

    private static String get(int port, String path) throws Exception {
        java.net.http.HttpResponse<String> response = java.net.http.HttpClient.newHttpClient().send(
                java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.3:" + port + path))
                        .timeout(Duration.ofSeconds(10)).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), path + ": " + response.body());
        return response.body();
    }

    private static final byte[] SECRET = "a cluster secret of the tests, 32b".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    /** A node that forwards to the others and takes their forwarded connections, with an HTTP ingress. */
    private static Node forwardingNode(String host, String name) throws Exception {
        return forwardingNode(host, name, etcd.url(), ClusterSettings.DEFAULT_LEASE_TTL);
    }

    private static Node forwardingNode(String host, String name, java.net.URI store, Duration ttl) throws Exception {
        return forwardingNode(host, name, store, ttl, new io.diglett.server.config.IngressSettings("cluster.test",
                new HostPort(host, 0), null, null, null));
    }

    private static Node forwardingNode(String host, String name, java.net.URI store, Duration ttl,
                                       io.diglett.server.config.IngressSettings ingress) throws Exception {
        GatewayConfig config = GatewayConfig.defaults().withTls(TlsSettings.plain()).withIngress(ingress)
                .withListen(new HostPort(host, 0)).withPublicBind(host);
        return start(config, ClusterSettings.of(List.of(store), name).withLeaseTtl(ttl)
                .withForwarding(new HostPort(host, 0), SECRET));
    }

    /**
     * A backend that reads a PROXY v1 line and an HTTP request head, and answers 200 with the PROXY line, then
     * {@code size} bytes of a fixed pseudo-random sequence (seed 18).
     */
    private static TestServers.Backend proxyEcho(int size) throws IOException {
        return new TestServers.Backend(socket -> {
            java.io.InputStream in = socket.getInputStream();
            StringBuilder head = new StringBuilder();
            while (!head.toString().endsWith("\r\n\r\n")) {
                int b = in.read();
                if (b < 0) {
                    return;
                }
                head.append((char) b);
            }
            String proxy = head.substring(0, head.indexOf("\r\n"));
            byte[] body = new byte[size];
            new java.util.Random(18).nextBytes(body);
            byte[] first = (proxy + "\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            java.io.OutputStream out = socket.getOutputStream();
            out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + (first.length + size) + "\r\nConnection: close\r\n\r\n")
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            out.write(first);
            out.write(body);
            out.flush();
        });
    }

    @Test
    @SuppressWarnings("try")
    void aNodeThatDoesNotHoldTheNameForwardsItsHttpClientsToTheHolderWithTheClientsAddress() throws Exception {
        int size = 4 << 20;
        try (Node a = forwardingNode("127.0.0.2", "a");
             Node b = forwardingNode("127.0.0.3", "b");
             TestServers.Backend backend = proxyEcho(size)) {
            io.diglett.agent.AgentConfig config = agentConfig("site-token", List.of(gateway(a)),
                    spec("site", backend.port()).withProxyProtocol(io.diglett.agent.TunnelSpec.ProxyProtocol.V1));
            io.diglett.agent.Agent agent = new io.diglett.agent.Agent(config);
            try {
                agent.start().get(10, TimeUnit.SECONDS);
                TunnelTests.waitFor(() -> b.gateway.registrations().names().target("site").isPresent(),
                        "node b routes 'site' to node a");
                int http = b.gateway.httpPort().orElseThrow();
                try (Socket client = new Socket()) {
                    client.bind(new InetSocketAddress("127.0.0.9", 0)); // a client address no node has
                    client.connect(new InetSocketAddress("127.0.0.3", http), 5_000);
                    client.setSoTimeout(20_000);
                    client.getOutputStream().write("GET / HTTP/1.1\r\nHost: site.cluster.test\r\n\r\n"
                            .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                    HttpTestClient.Response response = HttpTestClient.read(client.getInputStream());
                    assertEquals(200, response.status(), response.toString());
                    byte[] body = response.body();
                    String proxyLine = new String(body, 0, indexOf(body, (byte) '\n'),
                            java.nio.charset.StandardCharsets.US_ASCII);
                    assertTrue(proxyLine.startsWith("PROXY TCP4 127.0.0.9 "),
                            "the backend sees the client's own address through both nodes: " + proxyLine);
                    byte[] expected = new byte[size];
                    new java.util.Random(18).nextBytes(expected);
                    byte[] got = java.util.Arrays.copyOfRange(body, proxyLine.length() + 1, body.length);
                    assertEquals(sha256(expected), sha256(got), "4 MiB through node b to node a's agent, intact");
                }
            } finally {
                agent.close();
            }
        }
    }

    /**
     * A name's visitor policy travels in its holder record: a node that does not hold the name enforces it for the
     * clients it forwards (address rules, basic auth, response headers), as the holder would.
     */
    @Test
    @SuppressWarnings("try")
    void aNodeThatDoesNotHoldTheNameEnforcesItsVisitorPolicy() throws Exception {
        com.sun.net.httpserver.HttpServer backend = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress("127.0.0.1", 0), 0);
        backend.createContext("/", exchange -> {
            byte[] body = ("user=" + exchange.getRequestHeaders().getFirst("X-Diglett-User"))
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        backend.start();
        try (Node a = forwardingNode("127.0.0.2", "a");
             Node b = forwardingNode("127.0.0.3", "b")) {
            io.diglett.agent.TunnelSpec guarded = spec("guarded", backend.getAddress().getPort()).withPolicy(
                    io.diglett.protocol.Policy.parse("deny-cidr 127.0.0.9\nbasic-auth "
                            + io.diglett.protocol.Policy.BasicCredential.hash("alice", "pw")
                            + "\nresponse-header X-Frame-Options: DENY\n"));
            io.diglett.agent.Agent agent = new io.diglett.agent.Agent(agentConfig("guarded-token", List.of(gateway(a)),
                    guarded));
            try {
                agent.start().get(10, TimeUnit.SECONDS);
                TunnelTests.waitFor(() -> b.gateway.registrations().names().target("guarded").isPresent(),
                        "node b routes 'guarded' to node a");
                int http = b.gateway.httpPort().orElseThrow();
                String request = "GET / HTTP/1.1\r\nHost: guarded.cluster.test\r\n";
                String alice = "Authorization: Basic " + java.util.Base64.getEncoder().encodeToString(
                        "alice:pw".getBytes(java.nio.charset.StandardCharsets.UTF_8)) + "\r\n";
                assertEquals(403, exchangeFrom("127.0.0.9", http, request + alice + "\r\n").status(),
                        "a denied address, at a node that does not hold the name");
                HttpTestClient.Response missing = exchangeFrom("127.0.0.10", http, request + "\r\n");
                assertEquals(401, missing.status());
                HttpTestClient.Response in = exchangeFrom("127.0.0.10", http, request + alice
                        + "X-Diglett-User: mallory\r\n\r\n");
                assertEquals(200, in.status());
                assertEquals("user=alice", new String(in.body(), java.nio.charset.StandardCharsets.UTF_8));
                assertEquals("DENY", in.headers().get("x-frame-options"));
            } finally {
                agent.close();
            }
        } finally {
            backend.stop(0);
        }
    }

    /**
     * The operator's token file changes a live name's policy: its agent registers again at once, the holder record
     * is rewritten, and the node that does not hold the name enforces the new policy.
     */
    @Test
    @SuppressWarnings("try")
    void aTokenFileChangeOfALiveNamesPolicyReachesEveryNode(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        Path tokens = Files.writeString(dir.resolve("tokens"), "ops-secret ops-*\n");
        io.diglett.server.auth.Authenticator file = io.diglett.server.auth.FileAuthenticator.start(tokens,
                Duration.ofSeconds(60));
        com.sun.net.httpserver.HttpServer backend = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress("127.0.0.1", 0), 0);
        backend.createContext("/", exchange -> {
            exchange.sendResponseHeaders(204, -1);
            exchange.close();
        });
        backend.start();
        GatewayConfig base = GatewayConfig.defaults().withTls(TlsSettings.plain()).withIngress(
                new io.diglett.server.config.IngressSettings("cluster.test", new HostPort("127.0.0.2", 0), null, null,
                        null)).withListen(new HostPort("127.0.0.2", 0)).withPublicBind("127.0.0.2");
        try (Node a = start(base, ClusterSettings.of(List.of(etcd.url()), "a").withForwarding(
                     new HostPort("127.0.0.2", 0), SECRET), file);
             Node b = forwardingNode("127.0.0.3", "b")) {
            io.diglett.agent.Agent agent = new io.diglett.agent.Agent(agentConfig("ops-secret", List.of(gateway(a)),
                    spec("ops-app", backend.getAddress().getPort())));
            try {
                agent.start().get(10, TimeUnit.SECONDS);
                TunnelTests.waitFor(() -> b.gateway.registrations().names().target("ops-app").isPresent(),
                        "node b routes 'ops-app' to node a");
                int http = b.gateway.httpPort().orElseThrow();
                String request = "GET / HTTP/1.1\r\nHost: ops-app.cluster.test\r\n\r\n";
                assertEquals(204, exchangeFrom("127.0.0.9", http, request).status(), "open at first");
                Files.writeString(tokens, "ops-secret ops-* deny-cidr=127.0.0.9\n");
                file.reload();
                TunnelTests.waitFor(() -> {
                    try {
                        return exchangeFrom("127.0.0.9", http, request).status() == 403;
                    } catch (IOException e) {
                        return false; // between the old registration and the new one
                    }
                }, "node b enforces the operator's new deny rule");
                assertEquals(204, exchangeFrom("127.0.0.10", http, request).status(), "others still get in");
            } finally {
                agent.close();
            }
        } finally {
            backend.stop(0);
            file.close();
        }
    }

    /** One HTTP exchange with 127.0.0.3:{@code port} from {@code from}, on a new connection. */
    private static HttpTestClient.Response exchangeFrom(String from, int port, String request) throws IOException {
        try (Socket client = new Socket()) {
            client.bind(new InetSocketAddress(from, 0));
            client.connect(new InetSocketAddress("127.0.0.3", port), 5_000);
            client.setSoTimeout(20_000);
            return HttpTestClient.exchange(client, request);
        }
    }

    /**
     * A backend the agent cannot reach: the agent's refusal travels back from the holder over the node link as the
     * stream's reset, with its reason, and the forwarding node's ingress answers its client with an error page
     * that says why, as the holder's own ingress would.
     */
    @Test
    @SuppressWarnings("try")
    void anAgentsRefusalReachesTheClientOfAForwardingNodeWithItsReason() throws Exception {
        int closed;
        try (java.net.ServerSocket nobody = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closed = nobody.getLocalPort(); // nothing listens there once this is closed
        }
        try (Node a = forwardingNode("127.0.0.2", "a");
             Node b = forwardingNode("127.0.0.3", "b")) {
            io.diglett.agent.AgentConfig config = agentConfig("down-token", List.of(gateway(a)), spec("down", closed));
            io.diglett.agent.Agent agent = new io.diglett.agent.Agent(config);
            try {
                agent.start().get(10, TimeUnit.SECONDS);
                TunnelTests.waitFor(() -> b.gateway.registrations().names().target("down").isPresent(),
                        "node b routes 'down' to node a");
                int http = b.gateway.httpPort().orElseThrow();
                try (Socket client = new Socket()) {
                    client.connect(new InetSocketAddress("127.0.0.3", http), 5_000);
                    client.setSoTimeout(20_000);
                    client.getOutputStream().write("GET / HTTP/1.1\r\nHost: down.cluster.test\r\n\r\n"
                            .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                    HttpTestClient.Response response = HttpTestClient.read(client.getInputStream());
                    assertEquals(502, response.status(), response.toString());
                    String page = new String(response.body(), java.nio.charset.StandardCharsets.UTF_8);
                    assertTrue(page.contains("unreachable"), "the agent's reason, through both nodes: " + page);
                }
            } finally {
                agent.close();
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void httpsTerminatedAndPassedThroughWorksThroughANodeThatDoesNotHoldTheName(@org.junit.jupiter.api.io.TempDir
                                                                                 Path dir) throws Exception {
        Path cert = dir.resolve("ingress.crt");
        Path key = dir.resolve("ingress.key");
        io.diglett.server.tls.GatewayTls.generate(cert, key, "*.cluster.test", List.of("*.cluster.test"));
        Path backendCert = dir.resolve("backend.crt");
        Path backendKey = dir.resolve("backend.key");
        io.diglett.server.tls.GatewayTls.generate(backendCert, backendKey, "pass backend",
                List.of("pass.cluster.test"));
        java.util.function.Function<String, io.diglett.server.config.IngressSettings> https = host ->
                new io.diglett.server.config.IngressSettings("cluster.test", null, new HostPort(host, 0), cert, key);
        try (Node a = forwardingNode("127.0.0.2", "a", etcd.url(), ClusterSettings.DEFAULT_LEASE_TTL,
                https.apply("127.0.0.2"));
             Node b = forwardingNode("127.0.0.3", "b", etcd.url(), ClusterSettings.DEFAULT_LEASE_TTL,
                     https.apply("127.0.0.3"));
             TestServers.Backend plain = proxyEcho(1 << 20);
             TestServers.Backend tls = new TestServers.Backend(TlsBackends.server(backendCert, backendKey), s -> {
                 javax.net.ssl.SSLSocket socket = (javax.net.ssl.SSLSocket) s;
                 for (String line = HttpTestClient.line(socket.getInputStream()); line != null && !line.isEmpty();
                      line = HttpTestClient.line(socket.getInputStream())) {
                     // the request head, decrypted only here
                 }
                 byte[] body = "the backend's own TLS".getBytes(java.nio.charset.StandardCharsets.UTF_8);
                 socket.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length
                         + "\r\nConnection: close\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                 socket.getOutputStream().write(body);
                 socket.getOutputStream().flush();
             })) {
            io.diglett.agent.AgentConfig config = agentConfig("tls-token", List.of(gateway(a)),
                    spec("term", plain.port()).withProxyProtocol(io.diglett.agent.TunnelSpec.ProxyProtocol.V1),
                    spec("pass", tls.port()).withTlsPassthrough(true));
            io.diglett.agent.Agent agent = new io.diglett.agent.Agent(config);
            try {
                agent.start().get(10, TimeUnit.SECONDS);
                TunnelTests.waitFor(() -> b.gateway.registrations().names().target("term").isPresent()
                        && b.gateway.registrations().names().target("pass").isPresent(), "node b routes both names");
                int port = b.gateway.httpsPort().orElseThrow();

                Socket raw = new Socket();
                raw.bind(new InetSocketAddress("127.0.0.9", 0));
                raw.connect(new InetSocketAddress("127.0.0.3", port), 5_000);
                try (javax.net.ssl.SSLSocket socket = HttpTestClient.connectTls(raw, port, "term.cluster.test")) {
                    HttpTestClient.Response response = HttpTestClient.exchange(socket,
                            HttpTestClient.get("term.cluster.test", "/"));
                    assertEquals(200, response.status());
                    String proxyLine = new String(response.body(), 0, indexOf(response.body(), (byte) '\n'),
                            java.nio.charset.StandardCharsets.US_ASCII);
                    assertTrue(proxyLine.startsWith("PROXY TCP4 127.0.0.9 "), proxyLine);
                }
                try (javax.net.ssl.SSLSocket socket = HttpTestClient.connectTls(
                        TestServers.connect(new InetSocketAddress("127.0.0.3", port)), port, "pass.cluster.test")) {
                    String subject = ((java.security.cert.X509Certificate) socket.getSession()
                            .getPeerCertificates()[0]).getSubjectX500Principal().getName();
                    assertEquals("CN=pass backend", subject, "the backend's certificate, through node b to node a");
                    HttpTestClient.Response response = HttpTestClient.exchange(socket,
                            HttpTestClient.get("pass.cluster.test", "/"));
                    assertEquals("the backend's own TLS", response.text());
                }
            } finally {
                agent.close();
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void aNamesRawPortIsTheSameOnEveryNodeAndEachCarriesItsBytes() throws Exception {
        int size = 4 << 20;
        try (Node a = forwardingNode("127.0.0.2", "a");
             Node b = forwardingNode("127.0.0.3", "b");
             Node c = forwardingNode("127.0.0.4", "c");
             TestServers.Backend echo = new TestServers.Backend(socket -> socket.getInputStream()
                     .transferTo(socket.getOutputStream()))) {
            io.diglett.agent.AgentConfig config = agentConfig("raw-token", List.of(gateway(a)),
                    spec("raw", echo.port()).withRawPort(true));
            io.diglett.agent.Agent agent = new io.diglett.agent.Agent(config);
            try {
                int port = agent.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
                byte[] data = new byte[size];
                new java.util.Random(7).nextBytes(data);
                for (String host : List.of("127.0.0.2", "127.0.0.3", "127.0.0.4")) {
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                    Socket client = null;
                    while (client == null) {
                        try {
                            client = TestServers.connect(new InetSocketAddress(host, port));
                        } catch (java.net.ConnectException notYet) {
                            assertTrue(System.nanoTime() < deadline, host + " never listened on port " + port);
                            Thread.sleep(50);
                        }
                    }
                    try (Socket open = client) {
                        open.setSoTimeout(20_000);
                        Thread writer = new Thread(() -> {
                            try {
                                open.getOutputStream().write(data);
                                open.shutdownOutput();
                            } catch (IOException ignored) {
                                // the read below fails then
                            }
                        });
                        writer.start();
                        byte[] back = open.getInputStream().readAllBytes();
                        writer.join(10_000);
                        assertEquals(sha256(data), sha256(back), "4 MiB echoed through " + host + ":" + port);
                    }
                }
                agent.close();
                TunnelTests.waitFor(() -> !c.gateway.cluster().holders().containsKey("raw"), "'raw' released");
                TunnelTests.waitFor(() -> {
                    try (Socket gone = TestServers.connect(new InetSocketAddress("127.0.0.4", port))) {
                        return false;
                    } catch (IOException refused) {
                        return true;
                    }
                }, "node c stops listening on the port of a name that is gone");
            } finally {
                agent.close();
            }
        }
    }

    /**
     * The entry's side of a node link, against a holder played by this test: the Answer and the holder's first
     * frame (a Ping, answered) come in one write; the stream's Open names the client; a backend that speaks first
     * (an SMTP banner, sent with the Ok) reaches the client, the client's line reaches the backend, and the holder's
     * FIN ends the client's input.
     */
    @Test
    @SuppressWarnings("try")
    void aNodeLinkCarriesAClientToAHolderThatSpeaksFirst() throws Exception {
        java.nio.charset.Charset ascii = java.nio.charset.StandardCharsets.US_ASCII;
        int port;
        try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.2"))) {
            port = probe.getLocalPort();
        }
        try (Node a = forwardingNode("127.0.0.2", "a");
             java.net.ServerSocket holder = new java.net.ServerSocket(0, 50,
                     java.net.InetAddress.getByName("127.0.0.5"));
             io.etcd.jetcd.Client store = io.etcd.jetcd.Client.builder().endpoints(etcd.url()).build()) {
            io.etcd.jetcd.KV kv = store.getKVClient();
            java.util.function.BiConsumer<String, String> put = (key, value) -> {
                try {
                    kv.put(io.etcd.jetcd.ByteSequence.from(key, ascii), io.etcd.jetcd.ByteSequence.from(value, ascii))
                            .get(10, TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            };
            put.accept("/diglett/nodes/played", "diglett-node 1\nlisten=127.0.0.5:1\nforward=127.0.0.5:"
                    + holder.getLocalPort() + "\nstarted=2026-12-05T00:00:00Z\n");
            put.accept("/diglett/names/banner", "diglett-holder 1\nnode=played\n");
            put.accept("/diglett/ports/" + port, "banner");
            java.util.concurrent.CompletableFuture<String> seen = new java.util.concurrent.CompletableFuture<>();
            Thread played = new Thread(() -> {
                byte[] nonce = new byte[NodeForward.NONCE_LENGTH];
                // first an impostor: it accepts without the secret (no valid MAC), and the entry closes the link
                try (Socket from = holder.accept()) {
                    from.setSoTimeout(10_000);
                    java.io.DataInputStream in = new java.io.DataInputStream(from.getInputStream());
                    helloAndAsk(from, nonce);
                    from.getOutputStream().write(new byte[3 + NodeForward.ANSWER_MAC_LENGTH]);
                    assertEquals(-1, in.read(), "the entry closed a link accepted without the secret");
                } catch (IOException | AssertionError e) {
                    seen.completeExceptionally(e);
                    return;
                }
                try (Socket from = holder.accept()) {
                    from.setSoTimeout(10_000);
                    NodeForward.Ask ask = helloAndAsk(from, nonce);
                    java.io.DataInputStream in = new java.io.DataInputStream(from.getInputStream());
                    java.io.ByteArrayOutputStream first = new java.io.ByteArrayOutputStream();
                    io.netty.buffer.ByteBuf accepted = NodeForward.linkAccepted(
                            io.netty.buffer.UnpooledByteBufAllocator.DEFAULT, nonce, ask, SECRET);
                    try {
                        first.write(io.netty.buffer.ByteBufUtil.getBytes(accepted)); // signed
                    } finally {
                        accepted.release();
                    }
                    first.write(frame(FrameKind.PING, 0, new byte[8])); // the link's first frame, same write
                    from.getOutputStream().write(first.toByteArray());
                    RawAgent link = RawAgent.over(from);
                    // the Pong to the Ping that came with the Answer, and the Open of the waiting client, in any order
                    RawAgent.RawFrame open = link.read();
                    RawAgent.RawFrame other = link.read();
                    if (open.kind() == FrameKind.PONG.code()) {
                        RawAgent.RawFrame swap = open;
                        open = other;
                        other = swap;
                    }
                    assertEquals(FrameKind.PONG.code(), other.kind(), "the Ping after the Answer was read");
                    assertEquals(FrameKind.OPEN.code(), open.kind());
                    io.diglett.protocol.Frame frame = new io.diglett.protocol.Frame(FrameKind.OPEN, open.id(),
                            io.netty.buffer.Unpooled.wrappedBuffer(open.payload()));
                    NodeForward.Open asked;
                    try {
                        asked = NodeForward.Open.decode(frame);
                    } finally {
                        frame.release();
                    }
                    java.io.ByteArrayOutputStream answer = new java.io.ByteArrayOutputStream();
                    answer.write(frame(FrameKind.OK, open.id(), java.nio.ByteBuffer.allocate(4).putInt(1 << 16)
                            .array()));
                    answer.write(frame(FrameKind.PAYLOAD, open.id(), "220 played holder ready\r\n".getBytes(ascii)));
                    from.getOutputStream().write(answer.toByteArray());
                    RawAgent.RawFrame line = link.readSkippingPings();
                    assertEquals(FrameKind.PAYLOAD.code(), line.kind());
                    seen.complete(asked.client().getAddress().getHostAddress() + " " + line.text().trim());
                    link.send(FrameKind.PAYLOAD, open.id(), "250 " + line.text().trim() + "\r\n");
                    link.send(FrameKind.FIN, open.id(), new byte[0]);
                    RawAgent.RawFrame fin = link.readSkippingPings();
                    assertEquals(FrameKind.FIN.code(), fin.kind(), "the client's end of output");
                } catch (IOException | AssertionError e) {
                    seen.completeExceptionally(e);
                }
            });
            played.start();
            try {
                try (Socket refused = connectWhenListening("127.0.0.7", new InetSocketAddress("127.0.0.2", port))) {
                    int got;
                    try {
                        got = refused.getInputStream().read();
                    } catch (IOException reset) {
                        got = -1;
                    }
                    assertEquals(-1, got, "a client the impostor would have had is closed");
                }
                try (Socket open = connectWhenListening("127.0.0.7", new InetSocketAddress("127.0.0.2", port))) {
                    open.setSoTimeout(10_000);
                    java.io.BufferedReader in = new java.io.BufferedReader(
                            new java.io.InputStreamReader(open.getInputStream(), ascii));
                    String banner;
                    try {
                        banner = in.readLine();
                    } catch (IOException e) {
                        if (seen.isCompletedExceptionally()) {
                            seen.join(); // the played holder's failure, not the reset it caused
                        }
                        throw e;
                    }
                    assertEquals("220 played holder ready", banner, "the banner");
                    open.getOutputStream().write("EHLO client\r\n".getBytes(ascii));
                    assertEquals("250 EHLO client", in.readLine());
                    assertEquals(null, in.readLine(), "the holder's FIN ends the client's input");
                    open.shutdownOutput();
                    assertEquals("127.0.0.7 EHLO client", seen.get(10, TimeUnit.SECONDS),
                            "the holder saw the client's address and line");
                }
                played.join(10_000);
            } finally {
                for (String key : List.of("/diglett/ports/" + port, "/diglett/names/banner", "/diglett/nodes/played")) {
                    kv.delete(io.etcd.jetcd.ByteSequence.from(key, ascii)).get(10, TimeUnit.SECONDS);
                }
            }
        }
    }

    /** Plays a holder's first steps: writes a Hello with {@code nonce}, reads and checks the entry's LINK Ask. */
    private static NodeForward.Ask helloAndAsk(Socket from, byte[] nonce) throws IOException {
        io.netty.buffer.ByteBuf hello = NodeForward.hello(io.netty.buffer.UnpooledByteBufAllocator.DEFAULT, nonce);
        try {
            from.getOutputStream().write(io.netty.buffer.ByteBufUtil.getBytes(hello));
        } finally {
            hello.release();
        }
        java.io.DataInputStream in = new java.io.DataInputStream(from.getInputStream());
        byte[] body = new byte[in.readUnsignedShort()];
        in.readFully(body);
        NodeForward.Ask ask = NodeForward.Ask.decode(io.netty.buffer.Unpooled.wrappedBuffer(body), nonce, SECRET);
        assertEquals(NodeForward.Kind.LINK, ask.kind());
        return ask;
    }

    /** One frame's bytes. */
    private static byte[] frame(FrameKind kind, int id, byte[] payload) {
        return java.nio.ByteBuffer.allocate(7 + payload.length).put((byte) kind.code()).putInt(id)
                .putShort((short) payload.length).put(payload).array();
    }

    @Test
    @SuppressWarnings("try")
    void aNodeLinkWithoutTheSecretOrAnOpenForAnOlderClaimIsRefused() throws Exception {
        try (Node a = forwardingNode("127.0.0.2", "a");
             RawAgent agent = new RawAgent(a.address).loggedIn("x-token", UUID.randomUUID())) {
            agent.register(1, "guarded");
            agent.finish();
            long fence = a.gateway.registrations().names().lookup("guarded").orElseThrow().fence();
            HostPort forward = HostPort.parse(a.gateway.cluster().forwarding().get("a"), -1);
            InetSocketAddress at = new InetSocketAddress(forward.host(), forward.port());
            InetSocketAddress client = new InetSocketAddress("127.0.0.9", 4000);
            InetSocketAddress to = new InetSocketAddress("127.0.0.3", 80);
            NodeForward.Ask link = NodeForward.Ask.link("guarded");

            // another secret: no answer, the connection is closed
            try (Socket socket = TestServers.connect(at)) {
                socket.setSoTimeout(10_000);
                byte[] nonce = readHello(socket);
                send(socket, link, nonce, "not the cluster secret, 32 bytes!".getBytes(
                        java.nio.charset.StandardCharsets.US_ASCII));
                assertEquals(-1, socket.getInputStream().read(), "closed without an answer");
            }
            // an Ask made for another connection's nonce opens nothing here
            try (Socket socket = TestServers.connect(at)) {
                socket.setSoTimeout(10_000);
                readHello(socket);
                send(socket, link, new byte[NodeForward.NONCE_LENGTH], SECRET);
                assertEquals(-1, socket.getInputStream().read(), "closed without an answer");
            }
            // a connection per client (before node links) is refused with what to do
            try (Socket socket = TestServers.connect(at)) {
                socket.setSoTimeout(10_000);
                send(socket, new NodeForward.Ask("guarded", fence, client, to), readHello(socket), SECRET);
                assertEquals("node a takes forwarded connections on node links only; upgrade the node that asked",
                        readAnswer(socket));
                assertEquals(-1, socket.getInputStream().read());
            }
            // the link: accepted; an Open for an older claim refused with the reason, the link stays
            try (RawAgent entry = new RawAgent(at)) {
                entry.socket.setSoTimeout(10_000);
                byte[] nonce = readHello(entry.socket);
                send(entry.socket, link, nonce, SECRET);
                readLinkAccepted(entry.socket, nonce, link);
                entry.send(FrameKind.OPEN, 7, open(1 << 16, fence - 1, client, to));
                RawAgent.RawFrame refused = entry.readSkippingPings();
                assertEquals(FrameKind.ERROR.code(), refused.kind());
                assertEquals(7, refused.id());
                assertEquals("name 'guarded' is held here under claim " + fence + ", not " + (fence - 1),
                        refused.text());
                // the right claim: opened, and the agent is asked to open a stream for the client of the entry
                entry.send(FrameKind.OPEN, 9, open(1 << 16, fence, client, to));
                RawAgent.RawFrame opened = entry.readSkippingPings();
                assertEquals(FrameKind.OK.code(), opened.kind(), opened.text());
                assertEquals(9, opened.id());
                RawAgent.RawFrame asked = agent.readSkippingPings();
                assertEquals(FrameKind.OPEN.code(), asked.kind());
                io.diglett.protocol.Frame frame = new io.diglett.protocol.Frame(FrameKind.OPEN, asked.id(),
                        io.netty.buffer.Unpooled.wrappedBuffer(asked.payload()));
                try {
                    assertEquals(client, io.diglett.protocol.Requests.Open.decode(frame).client(),
                            "the agent sees the entry's client");
                } finally {
                    frame.release();
                }
            }
        }
    }

    /** A node link carries at most as many streams as the holder lets one agent have: the next Open is refused. */
    @Test
    @SuppressWarnings("try")
    void aNodeLinkHoldsAtMostTheStreamsOfOneAgent() throws Exception {
        GatewayConfig config = GatewayConfig.defaults().withTls(TlsSettings.plain())
                .withListen(new HostPort("127.0.0.2", 0)).withPublicBind("127.0.0.2");
        config = config.withLimits(config.limits().withMaxStreamsPerAgent(3));
        try (Node a = start(config, ClusterSettings.of(List.of(etcd.url()), "a")
                .withForwarding(new HostPort("127.0.0.2", 0), SECRET));
             RawAgent agent = new RawAgent(a.address).loggedIn("busy-token", UUID.randomUUID())) {
            agent.register(1, "busy");
            agent.finish();
            long fence = a.gateway.registrations().names().lookup("busy").orElseThrow().fence();
            HostPort forward = HostPort.parse(a.gateway.cluster().forwarding().get("a"), -1);
            InetSocketAddress client = new InetSocketAddress("127.0.0.9", 4000);
            InetSocketAddress to = new InetSocketAddress("127.0.0.2", 80);
            try (RawAgent entry = new RawAgent(new InetSocketAddress(forward.host(), forward.port()))) {
                entry.socket.setSoTimeout(10_000);
                NodeForward.Ask link = NodeForward.Ask.link("busy");
                byte[] nonce = readHello(entry.socket);
                send(entry.socket, link, nonce, SECRET);
                readLinkAccepted(entry.socket, nonce, link);
                for (int id = 1; id <= 3; id++) {
                    entry.send(FrameKind.OPEN, id, open(1 << 16, fence, client, to));
                    assertEquals(FrameKind.OK.code(), entry.readSkippingPings().kind(), "stream " + id);
                }
                entry.send(FrameKind.OPEN, 4, open(1 << 16, fence, client, to));
                RawAgent.RawFrame refused = entry.readSkippingPings();
                assertEquals(FrameKind.ERROR.code(), refused.kind());
                assertEquals(4, refused.id());
                assertEquals("node link busy: 3 streams open", refused.text());
                entry.send(FrameKind.CLOSE, 2, new byte[0]);
                entry.send(FrameKind.OPEN, 5, open(1 << 16, fence, client, to));
                assertEquals(FrameKind.OK.code(), entry.readSkippingPings().kind(), "a place again once one closed");
            }
        }
    }

    /** A node link's Open frame's payload. */
    private static byte[] open(int window, long fence, InetSocketAddress client, InetSocketAddress to) {
        io.diglett.protocol.Frame frame = new NodeForward.Open(window, fence, client, to)
                .encode(io.netty.buffer.UnpooledByteBufAllocator.DEFAULT, 1);
        try {
            return io.netty.buffer.ByteBufUtil.getBytes(frame.content());
        } finally {
            frame.release();
        }
    }

    /** Reads the accepted Answer to a LINK Ask and checks its MAC: the holder knows the secret. */
    private static void readLinkAccepted(Socket socket, byte[] nonce, NodeForward.Ask ask) throws IOException {
        byte[] answer = socket.getInputStream().readNBytes(3 + NodeForward.ANSWER_MAC_LENGTH);
        assertEquals(0, answer[0], "accepted");
        io.netty.buffer.ByteBuf bytes = io.netty.buffer.Unpooled.wrappedBuffer(answer);
        assertTrue(java.util.Arrays.equals(NodeForward.answerMac(SECRET, nonce, ask, bytes, 0, 3),
                java.util.Arrays.copyOfRange(answer, 3, answer.length)), "signed with the cluster secret");
    }

    /** Reads an Answer: "" when accepted, else the reason. */
    private static String readAnswer(Socket socket) throws IOException {
        java.io.DataInputStream in = new java.io.DataInputStream(socket.getInputStream());
        int status = in.readUnsignedByte();
        byte[] reason = new byte[in.readUnsignedShort()];
        in.readFully(reason);
        String text = new String(reason, java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(text.isEmpty() ? 0 : 1, status, "status of the answer '" + text + "'");
        return text;
    }

    @Test
    @SuppressWarnings("try")
    void theForwardingPortHoldsAtMostItsBoundsOfUnfinishedHandshakes() throws Exception {
        int bound = io.diglett.server.cluster.ForwardListener.MAX_HANDSHAKING;
        int perAddress = io.diglett.server.cluster.ForwardListener.MAX_HANDSHAKING_PER_ADDRESS;
        try (Node a = forwardingNode("127.0.0.2", "a")) {
            HostPort forward = HostPort.parse(a.gateway.cluster().forwarding().get("a"), -1);
            InetSocketAddress at = new InetSocketAddress(forward.host(), forward.port());
            List<Socket> silent = new java.util.ArrayList<>();
            try {
                // from one address: its own bound
                for (int i = 0; i < perAddress; i++) {
                    silent.add(silentFrom("127.0.1.10", at));
                }
                assertClosedAtOnce("127.0.1.10", at, "one address may hold no more");
                // from others, up to the bound in all
                for (int i = perAddress; i < bound; i++) {
                    silent.add(silentFrom("127.0.1." + (11 + i / perAddress), at));
                }
                assertClosedAtOnce("127.0.1.99", at, "no more in all");
                silent.remove(silent.size() - 1).close();
                TunnelTests.waitFor(() -> {
                    try (Socket again = bound("127.0.1.99", at)) {
                        return again.getInputStream().readNBytes(io.diglett.protocol.node.NodeForward.HELLO_LENGTH)
                                .length == io.diglett.protocol.node.NodeForward.HELLO_LENGTH;
                    } catch (IOException e) {
                        return false;
                    }
                }, "a closed one gives its place back");
            } finally {
                for (Socket socket : silent) {
                    socket.close();
                }
            }
        }
    }

    /** A connection from {@code from} to {@code at}, with a 10 s read timeout. */
    /**
     * A node in a process of its own on 127.0.0.2 (plaintext, raw ports from {@code portRange}), for a fault that
     * needs one: kill -9, SIGSTOP, SIGTERM.
     */
    private static ChildProcess childNode(String name, String portRange, int leaseTtl) throws Exception {
        return ChildProcess.start(io.diglett.server.cli.ServerCommand.class, "--plaintext",
                "--listen", "127.0.0.2:0", "--bind", "127.0.0.2", "--port-range", portRange,
                "--cluster-etcd", etcd.url().toString(), "--node-name", name, "--lease-ttl", String.valueOf(leaseTtl));
    }

    /** The port {@link #childNode} listens on for agents, once it says so. */
    private static int agentPort(ChildProcess node) throws Exception {
        return Integer.parseInt(node.await("listening for agents on 127\\.0\\.0\\.2:(\\d+)", 30_000).group(1));
    }

    private static Socket bound(String from, InetSocketAddress at) throws IOException {
        Socket socket = new Socket();
        try {
            socket.bind(new InetSocketAddress(from, 0));
            socket.connect(at, 5_000);
            socket.setSoTimeout(10_000);
            return socket;
        } catch (IOException e) {
            socket.close();
            throw e;
        }
    }

    /** Connects from {@code from} to {@code at}, polling (10 s at most) until a node listens there. */
    private static Socket connectWhenListening(String from, InetSocketAddress at) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                return bound(from, at);
            } catch (java.net.ConnectException notYet) {
                assertTrue(System.nanoTime() < deadline, "nothing listened on " + at + " within 10 s");
                Thread.sleep(50);
            }
        }
    }

    /** A connection that got its Hello and then says nothing: it holds a handshake place. */
    private static Socket silentFrom(String from, InetSocketAddress at) throws IOException {
        Socket socket = bound(from, at);
        readHello(socket);
        return socket;
    }

    private static void assertClosedAtOnce(String from, InetSocketAddress at, String why) throws IOException {
        try (Socket over = bound(from, at)) {
            assertEquals(-1, over.getInputStream().read(), why + ": closed at once, without a Hello");
        }
    }

    private static byte[] readHello(Socket socket) throws IOException {
        byte[] hello = socket.getInputStream().readNBytes(io.diglett.protocol.node.NodeForward.HELLO_LENGTH);
        return io.diglett.protocol.node.NodeForward.readHello(io.netty.buffer.Unpooled.wrappedBuffer(hello));
    }

    private static void send(Socket socket, io.diglett.protocol.node.NodeForward.Ask ask, byte[] nonce, byte[] secret)
            throws IOException {
        io.netty.buffer.ByteBuf bytes = ask.encode(io.netty.buffer.UnpooledByteBufAllocator.DEFAULT, nonce, secret);
        try {
            socket.getOutputStream().write(io.netty.buffer.ByteBufUtil.getBytes(bytes));
        } finally {
            bytes.release();
        }
    }

    private static int indexOf(byte[] bytes, byte value) {
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == value) {
                return i;
            }
        }
        return -1;
    }

    private static String sha256(byte[] bytes) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    /** An agent of {@code token} with one link, plaintext, dialling {@code gateways} in turn, for {@code tunnels}. */
    private static io.diglett.agent.AgentConfig agentConfig(String token, List<HostPort> gateways,
                                                            io.diglett.agent.TunnelSpec... tunnels) {
        return io.diglett.agent.AgentConfig.of(gateways.get(0), token, tunnels[0].name(), tunnels[0].backend(),
                        io.diglett.agent.TrustSettings.plain())
                .withTunnels(List.of(tunnels)).withGateways(gateways).withLinks(1);
    }

    /** A name whose backend is 127.0.0.1:{@code port}. */
    private static io.diglett.agent.TunnelSpec spec(String name, int port) {
        return new io.diglett.agent.TunnelSpec(name, new HostPort("127.0.0.1", port));
    }

    /** Where agents dial {@code node}. */
    private static HostPort gateway(Node node) {
        return new HostPort(node.address.getHostString(), node.address.getPort());
    }

    /** Registers {@code name} and returns the gateway's answer to the Register (Ok, Error or Refuse). */
    private static RawAgent.RawFrame register(RawAgent agent, String name) throws IOException {
        agent.send(FrameKind.REGISTER, 1, name);
        return agent.readSkippingKeepalive();
    }

    @Test
    @SuppressWarnings("try")
    void aNameIsOneAgentsInTheWholeCluster() throws Exception {
        try (Node a = node("127.0.0.2", "a");
             Node b = node("127.0.0.3", "b");
             RawAgent alice = new RawAgent(a.address).loggedIn("alice-token", UUID.randomUUID())) {
            alice.register(1, "web");
            alice.finish();
            TunnelTests.waitFor(() -> "a".equals(b.gateway.cluster().holders().get("web")),
                    "node b sees that node a holds 'web'");
            assertEquals(java.util.Map.of("a", "127.0.0.2:" + a.address.getPort(), "b",
                    "127.0.0.3:" + b.address.getPort()), b.gateway.cluster().nodes());
            int admin = b.gateway.startAdmin(new HostPort("127.0.0.3", 0), null).getPort();
            @SuppressWarnings("unchecked")
            java.util.Map<String, Object> cluster = (java.util.Map<String, Object>) ((java.util.Map<String, Object>)
                    new org.yaml.snakeyaml.Yaml().load(get(admin, "/api/gateway"))).get("cluster");
            assertEquals("b", cluster.get("node"));
            assertEquals(true, cluster.get("storeUp"));
            assertEquals(java.util.Map.of("web", "a"), cluster.get("holders"), "/api/gateway: who holds each name");
            String metrics = get(admin, "/metrics");
            assertTrue(metrics.contains("diglett_cluster_names{node=\"a\"} 1.0"), metrics);
            assertTrue(metrics.contains("diglett_cluster_names{node=\"b\"} 0.0"), metrics);
            assertTrue(metrics.contains("diglett_cluster_store_up 1.0"), metrics);

            try (RawAgent bob = new RawAgent(b.address).loggedIn("bob-token", UUID.randomUUID())) {
                RawAgent.RawFrame answer = register(bob, "web");
                assertEquals(FrameKind.REFUSE.code(), answer.kind(), "another token: refused for good");
                assertEquals("name 'web' is already in use", answer.text());
            }
            try (RawAgent carol = new RawAgent(a.address).loggedIn("carol-token", UUID.randomUUID())) {
                assertEquals("name 'web' is already in use", register(carol, "web").text(),
                        "on the holder's own node as well");
            }

            alice.close(); // its name is released in the store: free on every node
            TunnelTests.waitFor(() -> !b.gateway.cluster().holders().containsKey("web"), "'web' released");
            try (RawAgent bob = new RawAgent(b.address).loggedIn("bob-token", UUID.randomUUID())) {
                int port = bob.register(1, "web");
                bob.finish();
                assertTrue(port > 0);
                TunnelTests.waitFor(() -> "b".equals(a.gateway.cluster().holders().get("web")),
                        "node a sees that node b holds 'web' now");
                TunnelTests.waitFor(() -> b.gateway.cluster().watchLagSeconds() >= 0,
                        "node b's watch reported its own write");
                String later = get(admin, "/metrics");
                double lag = Double.parseDouble(java.util.regex.Pattern.compile(
                        "(?m)^diglett_cluster_watch_lag_seconds (\\S+)$").matcher(later).results().findFirst()
                        .orElseThrow().group(1));
                assertTrue(lag > 0 && lag < 5, "the watch reported node b's own registration after " + lag + " s");
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void theSameAgentReconnectingToAnotherNodeTakesItsNameOver() throws Exception {
        UUID instance = UUID.randomUUID();
        try (Node a = node("127.0.0.2", "a");
             Node b = node("127.0.0.3", "b");
             RawAgent before = new RawAgent(a.address).loggedIn("the-token", instance)) {
            before.register(1, "shop");
            before.finish();
            try (RawAgent after = new RawAgent(b.address).loggedIn("the-token", instance)) {
                after.register(1, "shop");
                after.finish();
                RawAgent.RawFrame lost = before.readSkippingKeepalive();
                assertEquals(FrameKind.ERROR.code(), lost.kind());
                assertEquals("the name 'shop' was lost: taken over by an agent on node b", lost.text());
                TunnelTests.waitFor(() -> a.gateway.registrations().names().lookup("shop").isEmpty(),
                        "node a let 'api' go");
                assertEquals("b", a.gateway.cluster().holders().get("shop"));

                // another process of the same token does not take a name from a live holder on another node
                Thread pongs = answerPings(after);
                try (RawAgent other = new RawAgent(a.address).loggedIn("the-token", UUID.randomUUID())) {
                    RawAgent.RawFrame answer = register(other, "shop");
                    assertEquals(FrameKind.ERROR.code(), answer.kind(), "the agent may try again later");
                    assertEquals("name 'shop' is in use by a live agent", answer.text());
                } finally {
                    pongs.interrupt();
                }
            }
        }
    }

    /** Answers every Ping of {@code agent} with a Pong, in the background, until the connection ends. */
    private static Thread answerPings(RawAgent agent) {
        Thread thread = new Thread(() -> {
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    RawAgent.RawFrame frame = agent.read();
                    if (frame.kind() == FrameKind.PING.code()) {
                        agent.send(FrameKind.PONG, 0, frame.payload());
                    }
                }
            } catch (IOException ended) {
                // the link closed, or the socket timed out between Pings
            }
        }, "pongs");
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    @Test
    @SuppressWarnings("try")
    void anotherProcessOfTheSameTokenTakesTheNameFromAHolderOnAnotherNodeWhoseLinkIsSilent() throws Exception {
        try (Node a = forwardingNode("127.0.0.2", "a");
             Node b = forwardingNode("127.0.0.3", "b");
             RawAgent silent = new RawAgent(a.address).loggedIn("quiet-token", UUID.randomUUID())) {
            silent.register(1, "quiet");
            silent.finish(); // and from now on it reads nothing and answers no Ping: a link that died unnoticed
            TunnelTests.waitFor(() -> b.gateway.cluster().forwarding().containsKey("a"), "node b knows node a");
            try (RawAgent newer = new RawAgent(b.address).loggedIn("quiet-token", UUID.randomUUID())) {
                long asked = System.nanoTime();
                newer.register(1, "quiet");
                double seconds = (System.nanoTime() - asked) / 1e9;
                assertTrue(seconds < 4, "node a found the old link silent within its liveness deadline: " + seconds);
                TunnelTests.waitFor(() -> a.gateway.registrations().names().lookup("quiet").isEmpty(),
                        "node a gave the name up");
                // node b's own view comes from its watch, a moment after its write
                TunnelTests.waitFor(() -> "b".equals(b.gateway.cluster().holders().get("quiet")),
                        "node b's watch shows it holds 'quiet'");
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void aKilledNodesNamesAreFreeAfterItsLease() throws Exception {
        try (ChildProcess a = childNode("killed", "47000-47199", 2);
             Node b = node("127.0.0.3", "b")) {
            int port = agentPort(a);
            try (RawAgent held = new RawAgent(new InetSocketAddress("127.0.0.2", port))
                    .loggedIn("db-token", UUID.randomUUID())) {
                held.register(1, "db");
                held.finish();
                TunnelTests.waitFor(() -> "killed".equals(b.gateway.cluster().holders().get("db")),
                        "node b sees the holder");
                a.kill();
                long killed = System.nanoTime();
                try (RawAgent other = new RawAgent(b.address).loggedIn("db-token", UUID.randomUUID())) {
                    while (true) {
                        RawAgent.RawFrame answer = register(other, "db");
                        if (answer.kind() == FrameKind.OK.code()) {
                            break;
                        }
                        assertEquals(FrameKind.ERROR.code(), answer.kind(), answer.text());
                        assertTrue(System.nanoTime() - killed < TimeUnit.SECONDS.toNanos(10),
                                "the killed node's name is still held after 10 s");
                        Thread.sleep(100);
                    }
                    double seconds = (System.nanoTime() - killed) / 1e9;
                    assertTrue(seconds < 8, "free within the 2 s lease, etcd's expiry sweep and a loaded"
                            + " machine's delays: " + seconds);
                }
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void anAgentGoesOnToTheNextGatewayWhenItsNodeIsKilledAndTakesItsNameWithIt() throws Exception {
        try (ChildProcess a = childNode("first", "47000-47199", 5);
             Node b = node("127.0.0.3", "second");
             TestServers.Backend echo = new TestServers.Backend(socket -> socket.getInputStream()
                     .transferTo(socket.getOutputStream()))) {
            int portA = agentPort(a);
            io.diglett.agent.AgentConfig config = agentConfig("app-token",
                    List.of(new HostPort("127.0.0.2", portA), gateway(b)), spec("app", echo.port()));
            io.diglett.agent.Agent agent = new io.diglett.agent.Agent(config);
            try {
                int before = agent.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
                assertEquals("127.0.0.2:" + portA, agent.status().gateway());
                TunnelTests.waitFor(() -> "first".equals(b.gateway.cluster().holders().get("app")),
                        "node second sees node first hold 'app'");

                a.kill(); // its lease (5 s) still holds 'app': the same agent takes it over on the next node
                long killed = System.nanoTime();
                TunnelTests.waitFor(() -> b.gateway.registrations().names().lookup("app")
                        .filter(io.diglett.server.link.Tunnel::live).isPresent(), "'app' live on node second", 10_000);
                double seconds = (System.nanoTime() - killed) / 1e9;
                assertEquals("127.0.0.3:" + b.address.getPort(), agent.status().gateway());
                assertTrue(seconds < 5, "back before the dead node's lease expired: " + seconds + " s");
                int port = b.gateway.registrations().names().lookup("app").orElseThrow().port();
                assertEquals(before, port, "the name keeps its port on the next node");
                try (Socket client = TestServers.connect(new InetSocketAddress("127.0.0.3", port))) {
                    client.getOutputStream().write("hello".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                    byte[] back = client.getInputStream().readNBytes(5);
                    assertEquals("hello", new String(back, java.nio.charset.StandardCharsets.US_ASCII));
                }
            } finally {
                agent.close();
            }
        }
    }

    /**
     * A node stopped on purpose (SIGTERM) gives its names and ports up at once: the agent registers on the next
     * node, and its name gets the port it had, which every node remembers for a while after the claim went.
     */
    @Test
    @SuppressWarnings("try")
    void aNameKeepsItsPortWhenItsNodeIsStoppedAndItsAgentMovesOn() throws Exception {
        try (ChildProcess a = childNode("stopping", "47400-47599", 5);
             Node b = node("127.0.0.3", "staying");
             TestServers.Backend echo = new TestServers.Backend(socket -> socket.getInputStream()
                     .transferTo(socket.getOutputStream()))) {
            int portA = agentPort(a);
            io.diglett.agent.AgentConfig config = agentConfig("kept-token",
                    List.of(new HostPort("127.0.0.2", portA), gateway(b)), spec("kept", echo.port()));
            io.diglett.agent.Agent agent = new io.diglett.agent.Agent(config);
            try {
                int before = agent.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
                TunnelTests.waitFor(() -> "stopping".equals(b.gateway.cluster().holders().get("kept")),
                        "node staying sees node stopping hold 'kept'");
                a.signal("TERM");
                TunnelTests.waitFor(() -> b.gateway.registrations().names().lookup("kept")
                        .filter(io.diglett.server.link.Tunnel::live).isPresent(), "'kept' live on node staying", 20_000);
                int port = b.gateway.registrations().names().lookup("kept").orElseThrow().port();
                assertEquals(before, port, "the name keeps its port on the next node");
                try (Socket client = TestServers.connect(new InetSocketAddress("127.0.0.3", port))) {
                    client.getOutputStream().write(7);
                    assertEquals(7, client.getInputStream().read());
                }
            } finally {
                agent.close();
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void aNodeCutFromEtcdSendsItsAgentsToANodeThatReachesIt() throws Exception {
        try (TcpCut path = new TcpCut(new InetSocketAddress(etcd.url().getHost(), etcd.url().getPort()));
             Node a = forwardingNode("127.0.0.2", "reaches", etcd.url(), Duration.ofSeconds(2));
             Node b = forwardingNode("127.0.0.3", "cut", path.url(etcd.url()), Duration.ofSeconds(2));
             TestServers.Backend echo = new TestServers.Backend(socket -> socket.getInputStream()
                     .transferTo(socket.getOutputStream()))) {
            io.diglett.agent.AgentConfig config = agentConfig("moving-token", List.of(gateway(b), gateway(a)),
                    spec("moving", echo.port()).withRawPort(true));
            io.diglett.agent.Agent agent = new io.diglett.agent.Agent(config);
            try {
                agent.start().get(10, TimeUnit.SECONDS);
                TunnelTests.waitFor(() -> b.gateway.cluster().forwarding().containsKey("reaches"),
                        "node cut knows where node reaches takes forwarded connections");
                path.cut();
                long cutAt = System.nanoTime();
                TunnelTests.waitFor(() -> a.gateway.registrations().names().lookup("moving")
                        .filter(io.diglett.server.link.Tunnel::live).isPresent(),
                        "the agent moved to the node that reaches etcd", 20_000);
                double seconds = (System.nanoTime() - cutAt) / 1e9;
                assertTrue(seconds < 12, "moved " + seconds + " s after the cut");
                assertEquals("127.0.0.2:" + a.address.getPort(), agent.status().gateway());
                assertTrue(b.gateway.cluster() != null && !b.gateway.cluster().storeUp());
                int port = a.gateway.registrations().names().lookup("moving").orElseThrow().port();
                try (Socket client = TestServers.connect(new InetSocketAddress("127.0.0.2", port))) {
                    client.getOutputStream().write(42);
                    assertEquals(42, client.getInputStream().read(), "served on the node that reaches etcd");
                }
            } finally {
                agent.close();
            }
        }
    }

    /**
     * A node cut from etcd and from every other node (its own network split off) cannot tell whether etcd is down
     * for everyone: no peer answers its probe. Its names are free in etcd after its lease, so it sends its agents
     * away rather than serve names another agent may hold elsewhere.
     */
    @Test
    @SuppressWarnings("try")
    void aNodeCutFromEtcdAndFromEveryOtherNodeSendsItsAgentsAway() throws Exception {
        try (TcpCut path = new TcpCut(new InetSocketAddress(etcd.url().getHost(), etcd.url().getPort()));
             Node alone = forwardingNode("127.0.0.2", "alone", path.url(etcd.url()), Duration.ofSeconds(2));
             RawAgent agent = new RawAgent(alone.address).loggedIn("alone-token", UUID.randomUUID())) {
            agent.register(1, "island");
            agent.finish();
            try (Node other = forwardingNode("127.0.0.3", "other", etcd.url(), Duration.ofSeconds(2))) {
                TunnelTests.waitFor(() -> alone.gateway.cluster().forwarding().containsKey("other"),
                        "node alone knows where node other takes forwarded connections");
                path.cut(); // etcd, and (closed just after) the only other node: nobody answers its probe
            }
            long cutAt = System.nanoTime();
            agent.socket.setSoTimeout(30_000);
            RawAgent.RawFrame frame = agent.read();
            while (frame.kind() == FrameKind.PING.code()) {
                assertTrue(System.nanoTime() - cutAt < TimeUnit.SECONDS.toNanos(20), "no Terminate 20 s after the cut");
                agent.send(FrameKind.PONG, 0, frame.payload());
                frame = agent.read();
            }
            assertEquals(FrameKind.TERMINATE.code(), frame.kind(), "a Terminate, got kind " + frame.kind());
            assertEquals("node alone reaches neither the cluster store nor any other node; connect to another node",
                    frame.text());
            double seconds = (System.nanoTime() - cutAt) / 1e9;
            assertTrue(seconds < 12, "sent away " + seconds + " s after the cut");
            assertTrue(alone.gateway.cluster().partitioned());
        }
    }

    /**
     * A claim deleted while a node's watch was down, and compacted away before it came back, is seen by no event:
     * the node's read of names/ when it watches again finds it gone, and the node gives the name up, as an event
     * would have made it.
     */
    @Test
    @SuppressWarnings("try")
    void aClaimDeletedWhileTheWatchWasDownIsGivenUpWhenItWatchesAgain() throws Exception {
        java.nio.charset.Charset ascii = java.nio.charset.StandardCharsets.US_ASCII;
        GatewayConfig config = GatewayConfig.defaults().withTls(TlsSettings.plain())
                .withListen(new HostPort("127.0.0.2", 0)).withPublicBind("127.0.0.2");
        try (TcpCut path = new TcpCut(new InetSocketAddress(etcd.url().getHost(), etcd.url().getPort()));
             Node a = start(config, ClusterSettings.of(List.of(path.url(etcd.url())), "gap")
                     .withLeaseTtl(Duration.ofSeconds(10)));
             io.etcd.jetcd.Client store = io.etcd.jetcd.Client.builder().endpoints(etcd.url()).build();
             RawAgent agent = new RawAgent(a.address).loggedIn("gap-token", UUID.randomUUID())) {
            agent.register(1, "gapped");
            agent.finish();
            assertTrue(a.gateway.registrations().names().lookup("gapped").isPresent());
            path.cut(); // the watch breaks; the lease (10 s) outlives the cut
            io.etcd.jetcd.KV kv = store.getKVClient();
            long deleted = kv.delete(io.etcd.jetcd.ByteSequence.from("/diglett/names/gapped", ascii))
                    .get(10, TimeUnit.SECONDS).getHeader().getRevision();
            kv.compact(deleted).get(10, TimeUnit.SECONDS); // no watch can replay the delete now
            Thread.sleep(1_500); // the cut lasts: the node's watch and keepalive fail meanwhile
            path.restore();
            TunnelTests.waitFor(() -> a.gateway.registrations().names().lookup("gapped").isEmpty(),
                    "node gap gives 'gapped' up once it reads names/ again", 20_000);
        }
    }

    /**
     * A claim whose write etcd did but whose answer never came (the registration failed "cluster store
     * unavailable") would keep the name from every other agent while the node lives: once the store answers again,
     * the node reads the key back and deletes that claim.
     */
    @Test
    @SuppressWarnings("try")
    void aClaimWrittenWithoutAnAnswerIsDeletedOnceTheStoreAnswers() throws Exception {
        java.nio.charset.Charset ascii = java.nio.charset.StandardCharsets.US_ASCII;
        GatewayConfig config = GatewayConfig.defaults().withTls(TlsSettings.plain())
                .withListen(new HostPort("127.0.0.2", 0)).withPublicBind("127.0.0.2");
        io.etcd.jetcd.ByteSequence key = io.etcd.jetcd.ByteSequence.from("/diglett/names/limbo", ascii);
        try (TcpCut path = new TcpCut(new InetSocketAddress(etcd.url().getHost(), etcd.url().getPort()));
             Node a = start(config, ClusterSettings.of(List.of(path.url(etcd.url())), "mute")
                     .withLeaseTtl(Duration.ofSeconds(10)));
             io.etcd.jetcd.Client store = io.etcd.jetcd.Client.builder().endpoints(etcd.url()).build();
             RawAgent agent = new RawAgent(a.address).loggedIn("limbo-token", UUID.randomUUID())) {
            io.etcd.jetcd.KV kv = store.getKVClient();
            path.holdAnswers(); // etcd does what the node asks; the node hears nothing back
            agent.socket.setSoTimeout(15_000);
            agent.send(FrameKind.REGISTER, 1, "limbo");
            RawAgent.RawFrame refused = agent.readSkippingPings();
            assertEquals(FrameKind.ERROR.code(), refused.kind(), refused.text());
            assertTrue(refused.text().contains("cluster store unavailable"), refused.text());
            assertEquals(1, kv.get(key).get(10, TimeUnit.SECONDS).getKvs().size(), "etcd wrote the claim");
            path.releaseAnswers();
            TunnelTests.waitFor(() -> {
                try {
                    return kv.get(key).get(10, TimeUnit.SECONDS).getKvs().isEmpty();
                } catch (Exception e) {
                    return false;
                }
            }, "node mute deletes the claim it was not told of", 20_000);
        }
    }

    @Test
    @SuppressWarnings("try")
    void aThreeMemberEtcdThatLosesAMemberKeepsTheClusterRunning() throws Exception {
        List<EtcdServer> members = EtcdServer.cluster(List.of("127.0.1.1", "127.0.1.2", "127.0.1.3"));
        try {
            List<java.net.URI> urls = members.stream().map(EtcdServer::url).toList();
            ClusterSettings settings = new ClusterSettings(urls, "solo", Duration.ofSeconds(5), null, null, null, null,
                    null, null, null);
            try (Node a = start(GatewayConfig.defaults().withTls(TlsSettings.plain())
                    .withListen(new HostPort("127.0.0.2", 0)).withPublicBind("127.0.0.2"), settings);
                 RawAgent before = new RawAgent(a.address).loggedIn("m-token", UUID.randomUUID())) {
                before.register(1, "before");
                before.finish();
                members.get(0).kill(); // the first URL, the one the client most likely talks to
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (true) { // the client may need a moment to fail over to another member
                    try (RawAgent after = new RawAgent(a.address).loggedIn("m-token", UUID.randomUUID())) {
                        RawAgent.RawFrame answer = register(after, "after");
                        if (answer.kind() == FrameKind.OK.code()) {
                            break;
                        }
                        assertTrue(System.nanoTime() < deadline, "no registration 20 s after a member died: "
                                + answer.text());
                    }
                    Thread.sleep(200);
                }
                TunnelTests.waitFor(() -> a.gateway.cluster().storeUp(), "the node's keepalive goes on", 20_000);
                TunnelTests.waitFor(() -> "solo".equals(a.gateway.cluster().holders().get("before")),
                        "the first name is still held", 20_000);
            }
        } finally {
            for (EtcdServer member : members) {
                member.close();
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void aFrozenNodeLosesItsAgentsToTheNextAndTakesNothingBackWhenItThaws() throws Exception {
        try (ChildProcess a = childNode("frozen", "47200-47399", 2);
             Node b = node("127.0.0.3", "awake");
             TestServers.Backend echo = new TestServers.Backend(socket -> socket.getInputStream()
                     .transferTo(socket.getOutputStream()))) {
            int portA = agentPort(a);
            io.diglett.agent.AgentConfig config = agentConfig("ice-token",
                    List.of(new HostPort("127.0.0.2", portA), gateway(b)), spec("ice", echo.port()))
                    .withHeartbeat(Duration.ofMillis(500));
            io.diglett.agent.Agent agent = new io.diglett.agent.Agent(config);
            try {
                agent.start().get(10, TimeUnit.SECONDS);
                a.signal("STOP");
                long frozen = System.nanoTime();
                try {
                    TunnelTests.waitFor(() -> b.gateway.registrations().names().lookup("ice")
                            .filter(io.diglett.server.link.Tunnel::live).isPresent(), "'ice' live on the awake node",
                            15_000);
                    double seconds = (System.nanoTime() - frozen) / 1e9;
                    assertTrue(seconds < 5, "the agent found its node silent (3 heartbeats of 0.5 s) and moved: "
                            + seconds + " s");
                    // frozen past its lease: etcd deletes its node key
                    TunnelTests.waitFor(() -> !b.gateway.cluster().nodes().containsKey("frozen"),
                            "the frozen node's lease expired", 15_000);
                } finally {
                    a.signal("CONT");
                }
                // the thawed node finds its lease expired, gives up what it held and joins again, holding nothing
                TunnelTests.waitFor(() -> b.gateway.cluster().nodes().containsKey("frozen"), "the thawed node is back",
                        20_000);
                a.await("cluster: etcd expired this node's lease", 20_000);
                assertEquals("awake", b.gateway.cluster().holders().get("ice"), "the name stays where the agent is");
                int port = b.gateway.registrations().names().lookup("ice").orElseThrow().port();
                try (Socket client = TestServers.connect(new InetSocketAddress("127.0.0.3", port))) {
                    client.getOutputStream().write(7);
                    assertEquals(7, client.getInputStream().read());
                }
            } finally {
                agent.close();
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void etcdDownForEveryNodeSendsNoAgentAway() throws Exception {
        try (Node a = forwardingNode("127.0.0.2", "a", etcd.url(), Duration.ofSeconds(2));
             Node b = forwardingNode("127.0.0.3", "b", etcd.url(), Duration.ofSeconds(2));
             RawAgent agent = new RawAgent(a.address).loggedIn("stay-token", UUID.randomUUID())) {
            agent.register(1, "stay");
            agent.finish();
            TunnelTests.waitFor(() -> a.gateway.cluster().forwarding().containsKey("b")
                    && b.gateway.cluster().forwarding().containsKey("a"), "the nodes know each other");
            Thread pongs = answerPings(agent);
            etcd.stop();
            try {
                // both probe each other once silent for the lease (2 s); each heard etcd about when the other did
                TunnelTests.waitFor(() -> a.gateway.cluster().storeSilentSeconds() > 8
                        && b.gateway.cluster().storeSilentSeconds() > 8, "both nodes silent for a while", 30_000);
                assertTrue(!a.gateway.cluster().partitioned() && !b.gateway.cluster().partitioned(),
                        "etcd down for everyone is not a partition");
                assertTrue(a.gateway.registrations().names().lookup("stay").filter(io.diglett.server.link.Tunnel::live)
                        .isPresent(), "the agent is still served where it is");
            } finally {
                pongs.interrupt();
                etcd.start();
            }
            TunnelTests.waitFor(() -> a.gateway.cluster().storeUp() && b.gateway.cluster().storeUp(),
                    "both hear etcd again", 20_000);
        }
    }

    @Test
    @SuppressWarnings("try")
    void etcdStoppedLeavesTunnelsServingRefusesRegistrationsAndAllResumesWhenItIsBack() throws Exception {
        try (Node a = node("127.0.0.2", "a");
             RawAgent agent = new RawAgent(a.address).loggedIn("svc-token", UUID.randomUUID())) {
            int port = agent.register(1, "svc");
            agent.finish();
            etcd.stop();
            try {
                TunnelTests.waitFor(() -> !a.gateway.cluster().storeUp(), "node a notices", 20_000);
                try (Socket client = TestServers.connect(new InetSocketAddress("127.0.0.2", port))) {
                    RawAgent.RawFrame open = agent.readSkippingKeepalive();
                    assertEquals(FrameKind.OPEN.code(), open.kind(), "the tunnel still takes connections");
                }
                try (RawAgent late = new RawAgent(a.address).loggedIn("late-token", UUID.randomUUID())) {
                    late.send(FrameKind.REGISTER, 1, "late");
                    RawAgent.RawFrame answer = late.readSkippingKeepalive();
                    assertEquals(FrameKind.ERROR.code(), answer.kind());
                    assertTrue(answer.text().startsWith("cannot claim the name 'late': cluster store unavailable"),
                            answer.text());
                }
            } finally {
                etcd.start();
            }
            TunnelTests.waitFor(() -> a.gateway.cluster().storeUp(), "node a hears etcd again", 20_000);
            try (RawAgent late = new RawAgent(a.address).loggedIn("late-token", UUID.randomUUID())) {
                late.register(1, "late");
                late.finish();
            }
            TunnelTests.waitFor(() -> "a".equals(a.gateway.cluster().holders().get("svc")),
                    "'svc' is still node a's", 20_000);
        }
    }

    @Test
    @SuppressWarnings("try")
    void aNodeWithAnotherCertificateOrTheNameOfALiveNodeDoesNotStart() throws Exception {
        Path first = Files.createTempDirectory("diglett-cluster-a");
        Path second = Files.createTempDirectory("diglett-cluster-b");
        try (EtcdServer own = EtcdServer.start("127.0.0.1");
             Node a = node(own, "127.0.0.2", "a", GatewayConfig.defaults().withTls(TlsSettings.generated(first)),
                     Duration.ofSeconds(2))) {
            IllegalStateException other = assertThrows(IllegalStateException.class, () -> node(own, "127.0.0.3", "b",
                    GatewayConfig.defaults().withTls(TlsSettings.generated(second)), Duration.ofSeconds(2)));
            assertTrue(other.getMessage().contains("every node of a cluster presents the same --tls-cert and"
                    + " --tls-key"), other.getMessage());
            try (Node c = node(own, "127.0.0.4", "c", GatewayConfig.defaults().withTls(TlsSettings.generated(first)),
                    Duration.ofSeconds(2))) {
                assertEquals(3 - 1, c.gateway.cluster().nodes().size(), "the same certificate joins");
            }
            IllegalStateException twin = assertThrows(IllegalStateException.class, () -> node(own, "127.0.0.3", "a",
                    GatewayConfig.defaults().withTls(TlsSettings.generated(first)), Duration.ofSeconds(2)));
            assertEquals("node name 'a' is in use by a live node of the cluster (its lease did not expire within 5 s);"
                    + " give this node another --node-name", twin.getMessage());
        } finally {
            deleteTree(first);
            deleteTree(second);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
