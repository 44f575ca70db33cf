package io.diglett.server;

import io.diglett.server.auth.Authenticator;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.registrar.AdminHttpClient;
import io.diglett.server.registrar.CaddyRegistrar;
import io.diglett.server.registrar.NameRefusedException;
import io.diglett.server.config.TlsSettings;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import io.diglett.server.registrar.Registrar;
import io.diglett.server.registrar.RegistrarProvider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.sun.net.httpserver.HttpServer;
import io.diglett.common.transport.Transport;
import io.diglett.server.registrar.AdminHttpClient.Response;
import io.diglett.server.registrar.Registrar.Exposure;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code caddy} registrar against a real Caddy (Debian's {@code caddy} package, which {@code .ci/run}
 * installs), started here with its admin API and its HTTP server on unix sockets in a temporary directory: no
 * fixed ports, no network, no automatic HTTPS, nothing persisted. One test starts a second Caddy with its admin
 * API on a free TCP port of 127.0.0.1.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CaddyTests {

    private static final String DOMAIN = "gateway.test";
    private static final String CATCH_ALL = "caddy: no such site";
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    static Path dir;

    private static Process caddy;
    /** The tests' own client, for Caddy's admin API and its HTTP servers. */
    private static AdminHttpClient client;
    private static Path adminSocket;
    private static Path httpSocket;

    @BeforeAll
    static void startCaddy() throws Exception {
        client = new AdminHttpClient(Transport.best(), "caddy-tests-http");
        adminSocket = dir.resolve("admin.sock");
        httpSocket = dir.resolve("http.sock");
        caddy = startCaddy(dir, "unix/" + adminSocket, UnixDomainSocketAddress.of(adminSocket), "");
    }

    /**
     * A Caddy with its admin API on {@code adminListen} (reached at {@code adminAddress} with Host
     * {@code adminHost}) and its HTTP servers on unix sockets in {@code home}, once its admin API answers.
     */
    private static Process startCaddy(Path home, String adminListen, SocketAddress adminAddress, String adminHost)
            throws Exception {
        return startCaddy(home, adminListen, adminAddress, adminHost, "");
    }

    /** {@link #startCaddy(Path, String, SocketAddress, String)} with {@code firstRoutes} ahead of srv0's catch-all. */
    private static Process startCaddy(Path home, String adminListen, SocketAddress adminAddress, String adminHost,
                                      String firstRoutes) throws Exception {
        Path executable = onPath("caddy");
        if (executable == null) {
            fail("caddy is not installed (not on PATH: " + System.getenv("PATH") + "); .ci/run installs Debian's"
                    + " caddy package, or run: apt-get install caddy");
        }
        Path log = home.resolve("caddy.log");
        Path config = home.resolve("caddy.json");
        Files.writeString(config, """
                {
                  "admin": {"listen": "%3$s", "config": {"persist": false}},
                  "storage": {"module": "file_system", "root": "%1$s/data"},
                  "apps": {"http": {"servers": {"srv0": {
                    "listen": ["unix/%1$s/http.sock"],
                    "automatic_https": {"disable": true},
                    "routes": [%4$s{"handle": [{"handler": "static_response", "status_code": 404,
                                            "body": "%2$s"}]}]
                  },
                  "empty": {"listen": ["unix/%1$s/empty.sock"], "automatic_https": {"disable": true}, "routes": []},
                  "bare": {"listen": ["unix/%1$s/bare.sock"], "automatic_https": {"disable": true}}
                  }}}
                }
                """.formatted(home, CATCH_ALL, adminListen, firstRoutes.isEmpty() ? "" : firstRoutes + ","));
        ProcessBuilder builder = new ProcessBuilder(executable.toString(), "run", "--config", config.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> env = builder.environment();
        env.remove("CADDY_ADMIN");
        env.put("HOME", home.toString());
        env.put("XDG_CONFIG_HOME", home.resolve("config").toString());
        env.put("XDG_DATA_HOME", home.resolve("data").toString());
        Process started = builder.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            if (!started.isAlive()) {
                fail("caddy exited with " + started.exitValue() + ":\n" + Files.readString(log));
            }
            try {
                if (client.exchange(adminAddress, adminHost, "GET", "/config/", null, TIMEOUT).ok()) {
                    return started;
                }
            } catch (IOException notYet) {
                // the socket is not there yet
            }
            if (System.nanoTime() > deadline) {
                stop(started);
                fail("caddy's admin API did not come up:\n" + Files.readString(log));
            }
            Thread.sleep(50);
        }
    }

    @AfterAll
    static void stopCaddy() throws InterruptedException {
        if (caddy != null) {
            stop(caddy);
        }
        if (client != null) {
            client.close();
        }
    }

    private static void stop(Process process) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }

    private static Path onPath(String program) {
        for (String entry : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path candidate = Path.of(entry.isEmpty() ? "." : entry, program);
            if (Files.isExecutable(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    private static Response admin(String method, String path, String body) throws IOException {
        return client.exchange(UnixDomainSocketAddress.of(adminSocket), "", method, path, body, TIMEOUT);
    }

    /** What Caddy's HTTP server answers for {@code host}. */
    private static Response site(String host) throws IOException {
        return site(httpSocket, host);
    }

    private static Response site(Path socket, String host) throws IOException {
        return client.exchange(UnixDomainSocketAddress.of(socket), host, "GET", "/", null, TIMEOUT);
    }

    private static Registrar registrar(String... options) throws Exception {
        Map<String, String> all = new HashMap<>(Map.of("domain", DOMAIN, "admin", "unix/" + adminSocket));
        for (int i = 0; i < options.length; i += 2) {
            all.put(options[i], options[i + 1]);
        }
        return RegistrarProvider.find("caddy").create(all);
    }

    /** A Java HTTP server on 127.0.0.1, port 0, answering {@code body} to everything. */
    private static HttpServer backend(String body) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, bytes.length);
            exchange.getResponseBody().write(bytes);
            exchange.close();
        });
        server.start();
        return server;
    }

    private static int routesWithId(String id) throws IOException {
        Matcher matcher = Pattern.compile("\"@id\":\"" + id + "\"")
                .matcher(admin("GET", "/config/apps/http/servers/srv0/routes", null).body());
        int count = 0;
        while (matcher.find()) {
            count++;
        }
        return count;
    }

    private static String failureOf(Registrar registrar, Exposure exposure) {
        ExecutionException failed = assertThrows(ExecutionException.class,
                () -> registrar.register(exposure).toCompletableFuture().get(30, TimeUnit.SECONDS));
        return failed.getCause().getMessage();
    }

    @Test
    void registerRoutesTheNameThroughCaddyAndUnregisterRemovesIt() throws Exception {
        HttpServer backend = backend("hello from the backend");
        try (Registrar caddyRegistrar = registrar()) {
            Exposure example = new Exposure("example", backend.getAddress().getPort(), "test", null);
            caddyRegistrar.register(example).toCompletableFuture().get(30, TimeUnit.SECONDS);

            Response proxied = site("example." + DOMAIN);
            assertEquals(200, proxied.status(), proxied.body());
            assertEquals("hello from the backend", proxied.body());
            assertTrue(admin("GET", "/config/apps/http/servers/srv0/routes/0", null).body()
                    .contains("\"@id\":\"diglett-example\""), "first, ahead of the catch-all");
            assertEquals(CATCH_ALL, site("other." + DOMAIN).body(), "other hosts still reach the catch-all");

            caddyRegistrar.unregister(example);
            TunnelTests.waitFor(() -> status("example." + DOMAIN) == 404, "Caddy no longer routes the name");
            assertEquals(CATCH_ALL, site("example." + DOMAIN).body());
            assertEquals(404, admin("GET", "/id/diglett-example", null).status());
            caddyRegistrar.unregister(example); // already gone: fine
        } finally {
            backend.stop(0);
        }
    }

    private static int status(String host) {
        return status(httpSocket, host);
    }

    private static int status(Path socket, String host) {
        try {
            return site(socket, host).status();
        } catch (IOException e) {
            return -1;
        }
    }

    @Test
    void aStaleRouteFromACrashedGatewayIsReplaced() throws Exception {
        HttpServer backend = backend("fresh");
        try (Registrar caddyRegistrar = registrar()) {
            int dead = TestServers.refusedPort();
            String stale = "{\"@id\":\"diglett-stale\",\"match\":[{\"host\":[\"stale." + DOMAIN + "\"]}],"
                    + "\"handle\":[{\"handler\":\"reverse_proxy\",\"upstreams\":[{\"dial\":\"127.0.0.1:" + dead
                    + "\"}]}]}";
            assertTrue(admin("PUT", "/config/apps/http/servers/srv0/routes/0", stale).ok());
            assertEquals(502, site("stale." + DOMAIN).status(), "the stale route points at nothing");

            Exposure fresh = new Exposure("stale", backend.getAddress().getPort(), "test", null);
            caddyRegistrar.register(fresh).toCompletableFuture().get(30, TimeUnit.SECONDS);
            assertEquals("fresh", site("stale." + DOMAIN).body());
            assertEquals(1, routesWithId("diglett-stale"));

            // an older registration's unregister, arriving late, leaves the newer route alone
            caddyRegistrar.unregister(new Exposure("stale", dead, "old", null));
            caddyRegistrar.unregister(fresh);
            TunnelTests.waitFor(() -> status("stale." + DOMAIN) == 404, "the route is removed");
            assertEquals(0, routesWithId("diglett-stale"));
        } finally {
            backend.stop(0);
        }
    }

    /**
     * The case of issue 15: the route went in at index 0, so registering {@code www} took the operator's
     * {@code www.gateway.test} site over. A name the operator's routes serve already is refused; other names go
     * after the operator's sites and before the catch-all.
     */
    @Test
    void theOperatorsSitesAreNeverShadowed() throws Exception {
        HttpServer backend = backend("a tunnel");
        String site = "{\"@id\":\"operator-www\",\"match\":[{\"host\":[\"www." + DOMAIN + "\"]}],"
                + "\"handle\":[{\"handler\":\"static_response\",\"body\":\"the operator's www\"}],\"terminal\":true}";
        String wildcard = "{\"@id\":\"operator-shop\",\"match\":[{\"host\":[\"*.shop." + DOMAIN + "\"]},"
                + "{\"host\":[\"STATUS." + DOMAIN + "\"]}],"
                + "\"handle\":[{\"handler\":\"static_response\",\"body\":\"the operator's shops\"}]}";
        assertTrue(admin("PUT", "/config/apps/http/servers/srv0/routes/0", site).ok());
        assertTrue(admin("PUT", "/config/apps/http/servers/srv0/routes/1", wildcard).ok());
        try (Registrar caddyRegistrar = registrar()) {
            assertEquals("'www." + DOMAIN + "' is a site of the operator's own configuration",
                    failureOf(caddyRegistrar, new Exposure("www", backend.getAddress().getPort(), "test", null)));
            assertEquals("'status." + DOMAIN + "' is a site of the operator's own configuration",
                    failureOf(caddyRegistrar, new Exposure("status", backend.getAddress().getPort(), "test", null)),
                    "hosts match ignoring case, in any matcher set");
            assertEquals("the operator's www", site("www." + DOMAIN).body());
            assertEquals(0, routesWithId("diglett-www"));

            Exposure blog = new Exposure("blog", backend.getAddress().getPort(), "test", null);
            caddyRegistrar.register(blog).toCompletableFuture().get(30, TimeUnit.SECONDS);
            assertTrue(admin("GET", "/config/apps/http/servers/srv0/routes/1", null).body()
                    .contains("\"@id\":\"diglett-blog\""), "after the operator's exact site, before the route"
                    + " with a wildcard");
            assertEquals("a tunnel", site("blog." + DOMAIN).body());
            assertEquals("the operator's www", site("www." + DOMAIN).body());
            assertEquals(CATCH_ALL, site("other." + DOMAIN).body());
            caddyRegistrar.unregister(blog);
            TunnelTests.waitFor(() -> status("blog." + DOMAIN) == 404, "the route is removed");
        } finally {
            admin("DELETE", "/id/operator-www", null);
            admin("DELETE", "/id/operator-shop", null);
            backend.stop(0);
        }
    }

    /**
     * A Caddyfile site {@code :443 { @blog host blog.gateway.test; handle @blog { respond ... } }} compiles (as
     * {@code caddy adapt} shows) to a route with no host matcher whose {@code subroute} handler holds the route
     * matching {@code blog.gateway.test}, a level deeper still for the {@code handle} block: {@code blog} is the
     * operator's site and refused; other names go before that catch-all.
     */
    @Test
    void anOperatorsSiteInsideACatchAllRouteIsRefused() throws Exception {
        HttpServer backend = backend("a tunnel");
        String caddyfileSite = "{\"@id\":\"operator-any\",\"handle\":[{\"handler\":\"subroute\",\"routes\":["
                + "{\"handle\":[{\"handler\":\"subroute\",\"routes\":[{\"handle\":[{\"body\":\"the operator's blog\","
                + "\"handler\":\"static_response\"}]}]}],\"match\":[{\"host\":[\"blog." + DOMAIN + "\"]}]}]}],"
                + "\"terminal\":true}";
        assertTrue(admin("PUT", "/config/apps/http/servers/srv0/routes/0", caddyfileSite).ok());
        try (Registrar caddyRegistrar = registrar()) {
            ExecutionException refused = assertThrows(ExecutionException.class, () -> caddyRegistrar.register(
                    new Exposure("blog", backend.getAddress().getPort(), "test", null)).toCompletableFuture()
                    .get(30, TimeUnit.SECONDS));
            assertInstanceOf(NameRefusedException.class, refused.getCause(), "refused for good");
            assertEquals("'blog." + DOMAIN + "' is a site of the operator's own configuration",
                    refused.getCause().getMessage());
            assertEquals("the operator's blog", site("blog." + DOMAIN).body());
            assertEquals(0, routesWithId("diglett-blog"));

            Exposure shop = new Exposure("shop", backend.getAddress().getPort(), "test", null);
            caddyRegistrar.register(shop).toCompletableFuture().get(30, TimeUnit.SECONDS);
            assertTrue(admin("GET", "/config/apps/http/servers/srv0/routes/0", null).body()
                    .contains("\"@id\":\"diglett-shop\""), "before the catch-all");
            assertEquals("a tunnel", site("shop." + DOMAIN).body());
            assertEquals("the operator's blog", site("blog." + DOMAIN).body());
            caddyRegistrar.unregister(shop);
            TunnelTests.waitFor(() -> admin404("/id/diglett-shop"), "the route is removed");
        } finally {
            admin("DELETE", "/id/operator-any", null);
            backend.stop(0);
        }
    }

    /**
     * A wildcard site ({@code *.gateway.test}, the usual wildcard-certificate set-up) refuses no name: tunnels go
     * after the operator's exact sites and before the wildcard, which keeps every other host; only exact hosts
     * (ignoring case and a trailing dot) are refused, also one after the wildcard. Nothing goes after a catch-all.
     */
    @Test
    void aWildcardSiteIsACatchAllAndOnlyExactSitesAreRefused() throws Exception {
        HttpServer backend = backend("a tunnel");
        String exact = "{\"@id\":\"operator-www\",\"match\":[{\"host\":[\"www." + DOMAIN + "\"]}],"
                + "\"handle\":[{\"handler\":\"static_response\",\"body\":\"the operator's www\"}],\"terminal\":true}";
        String wildcard = "{\"@id\":\"operator-wild\",\"match\":[{\"host\":[\"*." + DOMAIN + "\"]}],"
                + "\"handle\":[{\"handler\":\"subroute\",\"routes\":[{\"handle\":[{\"handler\":\"static_response\","
                + "\"body\":\"the operator's wildcard\"}]}]}],\"terminal\":true}";
        String late = "{\"@id\":\"operator-late\",\"match\":[{\"host\":[\"Status." + DOMAIN + ".\"]}],"
                + "\"handle\":[{\"handler\":\"static_response\",\"body\":\"never reached\"}],\"terminal\":true}";
        assertTrue(admin("PUT", "/config/apps/http/servers/srv0/routes/0", exact).ok());
        assertTrue(admin("PUT", "/config/apps/http/servers/srv0/routes/1", wildcard).ok());
        assertTrue(admin("PUT", "/config/apps/http/servers/srv0/routes/2", late).ok());
        try (Registrar caddyRegistrar = registrar()) {
            assertEquals("'status." + DOMAIN + "' is a site of the operator's own configuration",
                    failureOf(caddyRegistrar, new Exposure("status", backend.getAddress().getPort(), "test", null)));
            assertEquals("'www." + DOMAIN + "' is a site of the operator's own configuration",
                    failureOf(caddyRegistrar, new Exposure("www", backend.getAddress().getPort(), "test", null)));

            Exposure app = new Exposure("app", backend.getAddress().getPort(), "test", null);
            caddyRegistrar.register(app).toCompletableFuture().get(30, TimeUnit.SECONDS);
            assertTrue(admin("GET", "/config/apps/http/servers/srv0/routes/1", null).body()
                    .contains("\"@id\":\"diglett-app\""), "after the exact site, before the wildcard");
            assertEquals("a tunnel", site("app." + DOMAIN).body());
            assertEquals("the operator's www", site("www." + DOMAIN).body());
            assertEquals("the operator's wildcard", site("other." + DOMAIN).body());
            caddyRegistrar.unregister(app);
            TunnelTests.waitFor(() -> admin404("/id/diglett-app"), "the route is removed");
        } finally {
            admin("DELETE", "/id/operator-www", null);
            admin("DELETE", "/id/operator-wild", null);
            admin("DELETE", "/id/operator-late", null);
            backend.stop(0);
        }
    }

    /**
     * Through a real gateway: the operator's site is refused for good (a Refuse, so the agent stops and says
     * why), and a Caddy that cannot be reached is a temporary failure whose details (the admin socket's path)
     * stay in the gateway's log.
     */
    @Test
    void theAgentIsRefusedForAnOperatorsSiteAndToldNothingOfCaddysSetUp() throws Exception {
        String site = "{\"@id\":\"operator-home\",\"match\":[{\"host\":[\"home." + DOMAIN + "\"]}],"
                + "\"handle\":[{\"handler\":\"static_response\",\"body\":\"the operator's home\"}],\"terminal\":true}";
        assertTrue(admin("PUT", "/config/apps/http/servers/srv0/routes/0", site).ok());
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withTls(TlsSettings.plain()),
                Authenticator.open(), registrar())) {
            try (RawAgent agent = new RawAgent(fixture.address.getPort()).loggedIn()) {
                agent.register(1, "home");
                agent.send(FrameKind.FINISH_REGISTER, 0, new byte[0]);
                RawAgent.RawFrame refused = agent.read();
                assertEquals(FrameKind.REFUSE.code(), refused.kind(), "for good: " + refused.text());
                assertEquals("'home." + DOMAIN + "' is a site of the operator's own configuration", refused.text());
            }
            assertEquals("the operator's home", site("home." + DOMAIN).body());
        } finally {
            admin("DELETE", "/id/operator-home", null);
        }
        Path missing = dir.resolve("no-admin-here.sock");
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withTls(TlsSettings.plain()),
                Authenticator.open(), registrar("admin", "unix/" + missing));
             RawAgent agent = new RawAgent(fixture.address.getPort()).loggedIn()) {
            agent.register(1, "down");
            agent.send(FrameKind.FINISH_REGISTER, 0, new byte[0]);
            RawAgent.RawFrame error = agent.read();
            assertEquals(FrameKind.ERROR.code(), error.kind(), "temporary: the agent tries again later");
            assertEquals(Protocol.CONNECTION_ID, error.id());
            assertEquals("exposing 'down' failed: the registrar failed", error.text());
        }
    }

    /**
     * Caddy is not up yet when the gateway starts: the routes a killed gateway left are removed once it is, and
     * no name is exposed before they are.
     */
    @Test
    void staleRoutesAreRemovedOnceCaddyComesUp(@TempDir Path later) throws Exception {
        HttpServer backend = backend("the new tenant");
        int port = backend.getAddress().getPort();
        Path socket = later.resolve("admin.sock");
        String stale = "{\"@id\":\"diglett-victim\",\"match\":[{\"host\":[\"victim." + DOMAIN + "\"]}],"
                + "\"handle\":[{\"handler\":\"reverse_proxy\",\"upstreams\":[{\"dial\":\"127.0.0.1:" + port
                + "\"}]}],\"terminal\":true}";
        Process second = null;
        try (Registrar caddyRegistrar = registrar("admin", "unix/" + socket)) {
            caddyRegistrar.reconcile(java.util.Set.of()); // Caddy is not there: it fails, and is tried again
            Exposure tenant = new Exposure("tenant", port, "test", null);
            assertThrows(ExecutionException.class, () -> caddyRegistrar.register(tenant).toCompletableFuture()
                    .get(30, TimeUnit.SECONDS));
            second = startCaddy(later, "unix/" + socket, UnixDomainSocketAddress.of(socket), "", stale);
            caddyRegistrar.register(tenant).toCompletableFuture().get(30, TimeUnit.SECONDS);
            Response routes = client.exchange(UnixDomainSocketAddress.of(socket), "", "GET",
                    "/config/apps/http/servers/srv0/routes", null, TIMEOUT);
            assertFalse(routes.body().contains("diglett-victim"), "removed before 'tenant' registered");
            assertTrue(routes.body().contains("diglett-tenant"), routes.body());
            assertEquals(CATCH_ALL, site(later.resolve("http.sock"), "victim." + DOMAIN).body());
        } finally {
            if (second != null) {
                stop(second);
            }
            backend.stop(0);
        }
    }

    /**
     * A gateway killed before it withdrew its names left their routes, proxying to ports other names may get:
     * the next gateway deletes every {@code diglett-} route before any name registers, and leaves the operator's.
     */
    @Test
    void routesAKilledGatewayLeftAreDeletedAtStart() throws Exception {
        HttpServer backend = backend("the new tenant");
        int port = backend.getAddress().getPort();
        String stale = "{\"@id\":\"diglett-victim\",\"match\":[{\"host\":[\"victim." + DOMAIN + "\"]}],"
                + "\"handle\":[{\"handler\":\"reverse_proxy\",\"upstreams\":[{\"dial\":\"127.0.0.1:" + port
                + "\"}]}],\"terminal\":true}";
        String operators = "{\"@id\":\"operator-kept\",\"match\":[{\"host\":[\"kept." + DOMAIN + "\"]}],"
                + "\"handle\":[{\"handler\":\"static_response\",\"body\":\"kept\"}],\"terminal\":true}";
        assertTrue(admin("PUT", "/config/apps/http/servers/srv0/routes/0", stale).ok());
        assertTrue(admin("PUT", "/config/apps/http/servers/srv0/routes/1", operators).ok());
        assertEquals("the new tenant", site("victim." + DOMAIN).body(), "the victim's host reaches another's port");
        Registrar caddyRegistrar = registrar();
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults(), Authenticator.open(),
                caddyRegistrar)) {
            fixture.expose("tenant", port);
            assertEquals(0, routesWithId("diglett-victim"), "deleted before 'tenant' registered");
            assertEquals(CATCH_ALL, site("victim." + DOMAIN).body());
            assertEquals("kept", site("kept." + DOMAIN).body());
            assertEquals("the new tenant", site("tenant." + DOMAIN).body());
        } finally {
            admin("DELETE", "/id/operator-kept", null);
            backend.stop(0);
        }
        TunnelTests.waitFor(() -> admin404("/id/diglett-tenant"), "withdrawn when the gateway stops");
    }

    @Test
    void aServerWithAnEmptyOrNoRouteListGetsOne() throws Exception {
        HttpServer backend = backend("first route");
        try {
            for (String server : List.of("empty", "bare")) {
                try (Registrar caddyRegistrar = registrar("server", server)) {
                    Exposure exposure = new Exposure(server, backend.getAddress().getPort(), "test", null);
                    caddyRegistrar.register(exposure).toCompletableFuture().get(30, TimeUnit.SECONDS);
                    Path socket = dir.resolve(server + ".sock");
                    assertEquals("first route", site(socket, server + "." + DOMAIN).body(), server);
                    caddyRegistrar.unregister(exposure);
                    TunnelTests.waitFor(() -> admin404("/id/diglett-" + server), "the route is removed");
                    assertEquals("[]", admin("GET", "/config/apps/http/servers/" + server + "/routes", null)
                            .body().strip());
                }
            }
        } finally {
            backend.stop(0);
        }
    }

    private static boolean admin404(String path) {
        try {
            return admin("GET", path, null).status() == 404;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void aFailingCaddyRefusesTheRegistrationWithAClearMessage() throws Exception {
        Exposure exposure = new Exposure("refused", TestServers.refusedPort(), "test", null);
        Path missing = dir.resolve("no-such-admin.sock");
        try (Registrar nowhere = registrar("admin", "unix/" + missing)) {
            assertEquals("Caddy's admin API at unix/" + missing + ": DELETE /id/diglett-refused: cannot connect"
                    + " (No such file or directory)", failureOf(nowhere, exposure));
        }
        try (Registrar wrongServer = registrar("server", "nosuch")) {
            assertEquals("Caddy's admin API at unix/" + adminSocket + " has no HTTP server 'nosuch' in"
                    + " apps.http.servers (choose one with --registrar-option server=NAME)",
                    failureOf(wrongServer, exposure));
        }
        assertEquals(404, admin("GET", "/id/diglett-refused", null).status(), "nothing half-exposed");
        assertEquals(CATCH_ALL, site("refused." + DOMAIN).body());
    }

    @Test
    void anAnswerThatIsNotA2xxIsPassedOnWithCaddysWords() throws Exception {
        // A stand-in for an admin API on TCP that refuses every change, as Caddy does when a config fails to load.
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        HttpServer refusing = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        refusing.createContext("/", exchange -> {
            String method = exchange.getRequestMethod();
            seen.add(method + " " + exchange.getRequestURI() + " Host="
                    + exchange.getRequestHeaders().getFirst("Host"));
            int status = method.equals("DELETE") ? 404 : method.equals("GET") ? 200 : 500;
            byte[] body = (status == 500 ? "{\"error\":\"loading new config: refused by the test\"}\n"
                    : status == 404 ? "{\"error\":\"unknown object ID\"}" : "[{\"handle\":[]}]")
                    .getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(status, 0); // chunked
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        refusing.start();
        String admin = "127.0.0.1:" + refusing.getAddress().getPort();
        try (Registrar registrar = registrar("admin", admin)) {
            assertEquals("Caddy's admin API at " + admin + " answered PUT /config/apps/http/servers/srv0/routes/0"
                    + " with 500: {\"error\":\"loading new config: refused by the test\"}",
                    failureOf(registrar, new Exposure("refused", 1, "test", null)));
            assertEquals("DELETE /id/diglett-refused Host=" + admin, seen.get(0), "Caddy checks Host");
        } finally {
            refusing.stop(0);
        }
    }

    @Test
    void anAdminApiThatNeverAnswersTimesOut() throws Exception {
        Path silent = dir.resolve("silent.sock");
        try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listener.bind(UnixDomainSocketAddress.of(silent));
            Thread acceptor = new Thread(() -> {
                try {
                    SocketChannel accepted = listener.accept();
                    try {
                        Thread.sleep(60_000); // reads nothing, answers nothing
                    } finally {
                        accepted.close();
                    }
                } catch (IOException | InterruptedException ignored) {
                    // the test is over
                }
            });
            acceptor.setDaemon(true);
            acceptor.start();
            try (Registrar slow = registrar("admin", "unix/" + silent, "timeout-ms", "300")) {
                long start = System.nanoTime();
                String message = failureOf(slow, new Exposure("slow", 1, "test", null));
                assertTrue(message.endsWith(": DELETE /id/diglett-slow: no answer within 300 ms"), message);
                assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10));
            } finally {
                acceptor.interrupt();
            }
        }
    }

    @Test
    void aTunnelThroughARealGatewayIsServedByCaddy() throws Exception {
        HttpServer backend = backend("through the tunnel");
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults(), Authenticator.open(),
                registrar())) {
            var agent = fixture.agent(fixture.agentConfig("tunneled", backend.getAddress().getPort()));
            int port = agent.start().get(30, TimeUnit.SECONDS).get(0).publicPort();
            assertNotEquals(backend.getAddress().getPort(), port);
            Response proxied = site("tunneled." + DOMAIN);
            assertEquals(200, proxied.status(), proxied.body());
            assertEquals("through the tunnel", proxied.body());
            agent.close();
            TunnelTests.waitFor(() -> status("tunneled." + DOMAIN) == 404, "the route goes with the tunnel");
        } finally {
            backend.stop(0);
        }
    }

    @Test
    void badOptionsAreClearErrors() {
        assertEquals("the caddy registrar needs --registrar-option domain=...", assertThrows(
                IllegalArgumentException.class, () -> RegistrarProvider.find("caddy").create(Map.of()))
                .getMessage());
        assertEquals("caddy admin 'localhost': expected HOST:PORT (e.g. localhost:2019) or unix//PATH",
                assertThrows(IllegalArgumentException.class, () -> registrar("admin", "localhost")).getMessage());
        assertEquals("the caddy registrar's timeout-ms must be a positive number of milliseconds, not 'soon'",
                assertThrows(IllegalArgumentException.class, () -> registrar("timeout-ms", "soon")).getMessage());
    }

    @Test
    void addressesAreSpelledAsCaddyDoesAndJsonIsEscapedAsItsEncoderDoes() {
        SocketAddress tcp = InetSocketAddress.createUnresolved("localhost", 2019);
        assertEquals("localhost:2019", AdminHttpClient.spell(tcp));
        assertEquals("unix//run/caddy.sock", AdminHttpClient.spell(UnixDomainSocketAddress.of("/run/caddy.sock")));
        assertEquals(List.of("\"a\\\"b\\\\c\\u003c\\n\""), List.of(CaddyRegistrar.json("a\"b\\c<\n")));
    }

    @Test
    void anAdminApiOnTcpIsReachedToo() throws Exception {
        Path home = Files.createDirectories(dir.resolve("tcp"));
        int port = TestServers.refusedPort();
        String admin = "127.0.0.1:" + port;
        Process tcpCaddy = startCaddy(home, admin, new InetSocketAddress("127.0.0.1", port), admin);
        HttpServer backend = backend("over tcp");
        try (Registrar caddyRegistrar = registrar("admin", admin)) {
            Exposure exposure = new Exposure("tcp", backend.getAddress().getPort(), "test", null);
            caddyRegistrar.register(exposure).toCompletableFuture().get(30, TimeUnit.SECONDS);
            assertEquals("over tcp", site(home.resolve("http.sock"), "tcp." + DOMAIN).body());
            caddyRegistrar.unregister(exposure);
            TunnelTests.waitFor(() -> status(home.resolve("http.sock"), "tcp." + DOMAIN) == 404,
                    "the route is removed");
            assertEquals(CATCH_ALL, site(home.resolve("http.sock"), "tcp." + DOMAIN).body());
        } finally {
            backend.stop(0);
            stop(tcpCaddy);
        }
    }

    @Test
    void everyTransportReachesAUnixSocketAndSaysWhyItCannot() throws Exception {
        List<Transport> transports = Transport.available();
        Path missing = dir.resolve("no-such.sock");
        Path stale = dir.resolve("nobody-listens.sock"); // a socket file left behind by a process that exited
        try (ServerSocketChannel gone = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            gone.bind(UnixDomainSocketAddress.of(stale));
        }
        for (Transport transport : transports) {
            try (AdminHttpClient own = new AdminHttpClient(transport, "caddy-tests-" + transport)) {
                Response listen = own.exchange(UnixDomainSocketAddress.of(adminSocket), "", "GET",
                        "/config/apps/http/servers/srv0/listen", null, TIMEOUT);
                assertEquals(200, listen.status(), transport + ": " + listen.body());
                assertTrue(listen.body().contains(httpSocket.toString()), transport + ": " + listen.body());
                IOException unreached = assertThrows(AdminHttpClient.Unreached.class, () -> own.exchange(
                        UnixDomainSocketAddress.of(missing), "", "GET", "/", null, TIMEOUT));
                assertEquals("unix/" + missing + ": GET /: cannot connect (No such file or directory)",
                        unreached.getMessage(), transport.toString());
                IOException refused = assertThrows(AdminHttpClient.Unreached.class, () -> own.exchange(
                        UnixDomainSocketAddress.of(stale), "", "GET", "/", null, TIMEOUT));
                assertEquals("unix/" + stale + ": GET /: cannot connect (Connection refused)", refused.getMessage(),
                        transport.toString());
                int closed = TestServers.refusedPort();
                IOException refusedTcp = assertThrows(AdminHttpClient.Unreached.class, () -> own.exchange(
                        new InetSocketAddress("127.0.0.1", closed), "", "GET", "/", null, TIMEOUT));
                assertEquals("127.0.0.1:" + closed + ": GET /: cannot connect (Connection refused)",
                        refusedTcp.getMessage(), transport.toString());
            }
        }
    }

    @Test
    void aNameRegisteredAgainBeforeItsOldLinkWithdrawsItKeepsItsNewRoute() throws Exception {
        HttpServer backend = backend("the new link");
        try (Registrar caddyRegistrar = registrar()) {
            int port = backend.getAddress().getPort();
            Exposure old = new Exposure("moved", port, "old-link", null);
            caddyRegistrar.register(old).toCompletableFuture().get(30, TimeUnit.SECONDS);
            // The new link was given the same public port, so the route alone cannot tell the two apart.
            Exposure fresh = new Exposure("moved", port, "new-link", null);
            var registered = caddyRegistrar.register(fresh).toCompletableFuture();
            caddyRegistrar.unregister(old);
            registered.get(30, TimeUnit.SECONDS);
            afterEverythingAskedSoFar(caddyRegistrar);
            assertEquals("the new link", site("moved." + DOMAIN).body());
            assertEquals(1, routesWithId("diglett-moved"));

            // a quick unregister and register again run in order
            caddyRegistrar.unregister(fresh);
            Exposure again = new Exposure("moved", port, "third-link", null);
            caddyRegistrar.register(again).toCompletableFuture().get(30, TimeUnit.SECONDS);
            assertEquals("the new link", site("moved." + DOMAIN).body());
            caddyRegistrar.unregister(again);
            TunnelTests.waitFor(() -> status("moved." + DOMAIN) == 404, "the route is removed");
        } finally {
            backend.stop(0);
        }
    }

    /** Waits until {@code registrar} has done what it was asked so far (it works in order). */
    private static void afterEverythingAskedSoFar(Registrar registrar) throws Exception {
        Exposure barrier = new Exposure("barrier", TestServers.refusedPort(), "test", null);
        registrar.register(barrier).toCompletableFuture().get(30, TimeUnit.SECONDS);
        registrar.unregister(barrier);
    }
}
