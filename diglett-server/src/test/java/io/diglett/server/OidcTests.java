package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.TunnelSpec;
import io.diglett.common.HostPort;
import io.diglett.protocol.Policy;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.IngressSettings;
import io.diglett.server.visitor.IdentityCalls;
import java.io.File;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The OpenID Connect login end to end (docs/policy.md): Keycloak (a real OpenID provider, started here) and Debian's
 * headless chromium, driven through Keycloak's login form by its chromedriver; the gateway's HTTPS ingress in
 * between; the backend reports the identity headers it got.
 */
class OidcTests {

    private static final String DOMAIN = "oidc.test";
    private static final String REALM = """
            {"realm": "diglett", "enabled": true, "sslRequired": "none",
             "users": [
               {"username": "alice", "enabled": true, "email": "alice@example.com", "emailVerified": true,
                "firstName": "Alice", "lastName": "Example",
                "credentials": [{"type": "password", "value": "alice-password", "temporary": false}]},
               {"username": "bob", "enabled": true, "email": "bob@elsewhere.example", "emailVerified": true,
                "firstName": "Bob", "lastName": "Elsewhere",
                "credentials": [{"type": "password", "value": "bob-password", "temporary": false}]}],
             "clients": [
               {"clientId": "diglett", "enabled": true, "protocol": "openid-connect", "publicClient": false,
                "secret": "client-secret", "standardFlowEnabled": true, "directAccessGrantsEnabled": false,
                "redirectUris": ["https://app.oidc.test:*"],
                "attributes": {"pkce.code.challenge.method": "S256"}}]}
            """;

    @TempDir
    static Path work;
    private static Keycloak keycloak;

    @BeforeAll
    static void startKeycloak() throws Exception {
        keycloak = Keycloak.start(REALM, work);
    }

    @AfterAll
    static void stopKeycloak() throws Exception {
        IdentityCalls.allowPrivateProviders(false);
        if (keycloak != null) {
            keycloak.close();
        }
    }

    /** The backend: what identity headers and cookies a request brought. */
    private static com.sun.net.httpserver.HttpServer backend() throws Exception {
        com.sun.net.httpserver.HttpServer server = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            var headers = exchange.getRequestHeaders();
            byte[] body = ("<html><body><p id=\"seen\">path=" + exchange.getRequestURI() + " user="
                    + headers.get("X-Diglett-User") + " email=" + headers.get("X-Diglett-Email") + " cookie="
                    + headers.get("Cookie") + "</p></body></html>").getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        return server;
    }

    private static WebDriver chromium() {
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(new File("/usr/bin/chromedriver")).usingAnyFreePort().build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(BrowserTests.findChromium());
        // the ingress serves a generated certificate here; app.oidc.test is this machine
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--ignore-certificate-errors", "--host-resolver-rules=MAP *." + DOMAIN + " 127.0.0.1");
        return new ChromeDriver(service, options);
    }

    /** Waits until the page has an element {@code by} (the page's own events decide, not a sleep). */
    private static WebElement await(WebDriver browser, By by) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            List<WebElement> found = browser.findElements(by);
            if (!found.isEmpty()) {
                return found.get(0);
            }
            Thread.sleep(100); // polling the browser's DOM for the next page
        }
        throw new AssertionError("no " + by + " on " + browser.getCurrentUrl() + ":\n" + browser.getPageSource());
    }

    /** Logs in at Keycloak's form as {@code user}, starting from {@code url} on the gateway. */
    private static void logIn(WebDriver browser, String url, String user, String password) throws Exception {
        browser.get(url);
        await(browser, By.id("username")).sendKeys(user);
        browser.findElement(By.id("password")).sendKeys(password);
        browser.findElement(By.id("kc-login")).click();
    }

    @Test
    void aVisitorLogsInAtTheProviderAndTheBackendSeesTheVerifiedIdentity() throws Exception {
        IdentityCalls.allowPrivateProviders(true); // Keycloak runs on this machine
        com.sun.net.httpserver.HttpServer backend = backend();
        GatewayConfig config = GatewayConfig.defaults().withIngress(new IngressSettings(DOMAIN,
                new HostPort("127.0.0.1", 0), new HostPort("127.0.0.1", 0), null, null));
        try (TunnelFixture fixture = new TunnelFixture(config)) {
            int port = backend.getAddress().getPort();
            TunnelSpec spec = new TunnelSpec("app", new HostPort("127.0.0.1", port)).withPolicy(Policy.parse(
                    "oidc-issuer " + keycloak.issuer("diglett") + "\noidc-client-id diglett\n"
                            + "oidc-client-secret client-secret\noidc-allow @example.com\n"));
            fixture.expose(fixture.agentConfig("app", port).withTunnels(List.of(spec)));
            int https = fixture.gateway.httpsPort().orElseThrow();
            int http = fixture.gateway.httpPort().orElseThrow();
            String origin = "https://app." + DOMAIN + ":" + https;

            // without a session: sent to the provider, with PKCE, a state and a nonce, and a state cookie
            HttpTestClient.Response redirect;
            try (Socket socket = HttpTestClient.connectTls(https, "app." + DOMAIN)) {
                redirect = HttpTestClient.exchange(socket, HttpTestClient.get("app." + DOMAIN + ":" + https, "/"));
            }
            assertEquals(302, redirect.status());
            String location = URLDecoder.decode(redirect.headers().get("location"), StandardCharsets.UTF_8);
            assertTrue(location.startsWith(keycloak.issuer("diglett") + "/protocol/openid-connect/auth?"), location);
            assertTrue(location.contains("code_challenge_method=S256") && location.contains("nonce=")
                    && location.contains("state=") && location.contains("redirect_uri=" + origin
                    + "/.diglett/oidc/callback"), location);
            assertTrue(redirect.headers().get("set-cookie").startsWith("__Host-diglett-login="), redirect.headers()
                    .toString());
            assertTrue(redirect.headers().get("set-cookie").contains("Secure; HttpOnly; SameSite=Lax"));

            // over plain HTTP: to HTTPS first (the session cookie is Secure)
            try (Socket socket = HttpTestClient.connect(http)) {
                HttpTestClient.Response plain = HttpTestClient.exchange(socket, HttpTestClient.get("app." + DOMAIN,
                        "/x"));
                assertEquals(308, plain.status());
            }

            WebDriver browser = chromium();
            String session;
            String alice;
            try {
                logIn(browser, origin + "/hello?x=1", "alice", "alice-password");
                String seen = await(browser, By.id("seen")).getText();
                assertTrue(seen.matches("path=/hello\\?x=1 user=\\[[0-9a-f-]{36}] email=\\[alice@example\\.com]"
                        + " cookie=null"), "back where the visitor was going, as alice (her subject at the"
                        + " provider, and her verified address); the gateway's cookies never reach the backend: " + seen);
                alice = seen.substring(seen.indexOf("user=["), seen.indexOf(']', seen.indexOf("user=[")) + 1);
                assertTrue(browser.getCurrentUrl().startsWith(origin + "/hello"), browser.getCurrentUrl());
                session = browser.manage().getCookieNamed("__Host-diglett-session").getValue();
                assertTrue(browser.manage().getCookieNamed("__Host-diglett-session").isHttpOnly());
                browser.get(origin + "/again");
                assertTrue(await(browser, By.id("seen")).getText().startsWith("path=/again " + alice),
                        "the session carries on");
            } finally {
                browser.quit();
            }

            // a client's own identity headers never arrive; its other cookies do, the session cookie does not
            try (Socket socket = HttpTestClient.connectTls(https, "app." + DOMAIN)) {
                HttpTestClient.Response forged = HttpTestClient.exchange(socket, "GET /forged HTTP/1.1\r\nHost: app."
                        + DOMAIN + ":" + https + "\r\nCookie: theme=dark; __Host-diglett-session=" + session
                        + "\r\nX-Diglett-User: admin\r\nX-Diglett-Email: admin@example.com\r\n\r\n");
                assertEquals(200, forged.status());
                assertTrue(new String(forged.body(), StandardCharsets.UTF_8).contains(
                        alice + " email=[alice@example.com] cookie=[theme=dark]"),
                        new String(forged.body(), StandardCharsets.UTF_8));
            }
            // a session for another host is worth nothing here, and a tampered one neither
            try (Socket socket = HttpTestClient.connectTls(https, "app." + DOMAIN)) {
                HttpTestClient.Response tampered = HttpTestClient.exchange(socket, "GET / HTTP/1.1\r\nHost: app."
                        + DOMAIN + ":" + https + "\r\nCookie: __Host-diglett-session=" + session.substring(0,
                        session.length() - 2) + "xx\r\n\r\n");
                assertEquals(302, tampered.status(), "sent to log in again");
            }
            // a callback that this browser did not start is refused
            try (Socket socket = HttpTestClient.connectTls(https, "app." + DOMAIN)) {
                HttpTestClient.Response stray = HttpTestClient.exchange(socket, HttpTestClient.get("app." + DOMAIN
                        + ":" + https, "/.diglett/oidc/callback?code=abc&state=forged"));
                assertEquals(400, stray.status());
            }

            // bob logs in at the provider, but his address is not one the name allows
            WebDriver other = chromium();
            try {
                logIn(other, origin + "/", "bob", "bob-password");
                String page = await(other, By.tagName("h1")).getText();
                assertEquals("Forbidden", page, other.getPageSource());
                assertTrue(other.getPageSource().contains("bob@elsewhere.example may not reach app.oidc.test"),
                        other.getPageSource());
                assertEquals(null, other.manage().getCookieNamed("__Host-diglett-session"), "no session");
            } finally {
                other.quit();
            }
            InetSocketAddress admin = fixture.gateway.startAdmin(new HostPort("127.0.0.1", 0), null);
            String tunnels = AcmeTests.adminGet(admin, "/api/tunnels");
            assertTrue(tunnels.contains("\"login\":\"oidc\""), tunnels);
            assertFalse(tunnels.contains("client-secret"), "the client secret is never shown");
            // the dashboard says who may reach the name
            WebDriver dashboard = chromium();
            try {
                dashboard.get("http://127.0.0.1:" + admin.getPort() + "/");
                String shown = await(dashboard, By.cssSelector("tr[data-name=app] td.visitors")).getText();
                assertTrue(shown.matches("OpenID login: @example\\.com \\(\\d+ in, 0 denied, 0 limited, [1-9]\\d* refused at"
                        + " login\\)"), "bob's refusal counted: " + shown);
            } finally {
                dashboard.quit();
            }
        } finally {
            backend.stop(0);
        }
    }
}
