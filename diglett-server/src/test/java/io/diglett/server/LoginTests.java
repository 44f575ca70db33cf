package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.TunnelSpec;
import io.diglett.common.HostPort;
import io.diglett.protocol.Policy;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.IngressSettings;
import io.diglett.server.visitor.IdentityCalls;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Bearer tokens (JWT) checked against a JWK set, and response header rules, through the gateway's HTTP ingress
 * (docs/policy.md). The tokens are signed here with Nimbus, the JWK set served by a small HTTP server on loopback
 * (what an identity provider publishes is just that document); the OpenID login runs against Keycloak in
 * OidcTests.
 */
class LoginTests {

    private static final String DOMAIN = "login.test";

    @AfterEach
    void privateProvidersOff() {
        IdentityCalls.allowPrivateProviders(false);
    }

    /** A JWK set document at http://127.0.0.1:PORT/jwks.json, and how many times it was fetched. */
    private static com.sun.net.httpserver.HttpServer jwks(JWKSet keys, AtomicInteger fetched) throws IOException {
        com.sun.net.httpserver.HttpServer server = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/jwks.json", exchange -> {
            fetched.incrementAndGet();
            byte[] body = keys.toPublicJWKSet().toString().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        return server;
    }

    /** An HTTP backend that answers with the identity headers it got, and the Authorization header. */
    private static com.sun.net.httpserver.HttpServer whoBackend() throws IOException {
        com.sun.net.httpserver.HttpServer server = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            var headers = exchange.getRequestHeaders();
            // any header that looks like the gateway's, however spelled, and whether an upgrade reached it
            java.util.List<String> lookalikes = headers.keySet().stream().filter(n -> n.toLowerCase(java.util.Locale.ROOT)
                    .replace('_', '-').startsWith("x-diglett-")).map(n -> n + ":" + headers.get(n)).sorted().toList();
            byte[] body = ("user=" + headers.get("X-Diglett-User") + " email=" + headers.get("X-Diglett-Email")
                    + " bearer=" + (headers.getFirst("Authorization") != null) + " upgrade=" + headers.get("Upgrade")
                    + " all=" + lookalikes).getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("X-Frame-Options", "SAMEORIGIN");
            exchange.getResponseHeaders().set("X-Backend", "kept");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        return server;
    }

    private static String token(RSAKey key, String audience, Date expires) throws Exception {
        SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.RS256).keyID(key.getKeyID()).build(),
                new JWTClaimsSet.Builder().issuer("https://issuer.test/").subject("svc-7").audience(audience)
                        .claim("email", "svc@example.com").claim("email_verified", true).expirationTime(expires)
                        .build());
        jwt.sign(new RSASSASigner(key));
        return jwt.serialize();
    }

    private static HttpTestClient.Response get(int port, String host, String extraHeaders) throws IOException {
        try (Socket socket = HttpTestClient.connect(port)) {
            return HttpTestClient.exchange(socket, "GET / HTTP/1.1\r\nHost: " + host + "\r\n" + extraHeaders + "\r\n");
        }
    }

    @Test
    void bearerTokensAreCheckedAgainstTheJwkSetIssuerAudienceAndExpiry() throws Exception {
        IdentityCalls.allowPrivateProviders(true);
        RSAKey key = new RSAKeyGenerator(2048).keyID("k1").generate();
        RSAKey stranger = new RSAKeyGenerator(2048).keyID("k1").generate(); // same key id, another key
        AtomicInteger fetched = new AtomicInteger();
        com.sun.net.httpserver.HttpServer keys = jwks(new JWKSet(key), fetched);
        com.sun.net.httpserver.HttpServer backend = whoBackend();
        GatewayConfig config = GatewayConfig.defaults().withIngress(new IngressSettings(DOMAIN,
                new HostPort("127.0.0.1", 0), null, null, null));
        try (TunnelFixture fixture = new TunnelFixture(config)) {
            String jwksUrl = "http://127.0.0.1:" + keys.getAddress().getPort() + "/jwks.json";
            TunnelSpec spec = new TunnelSpec("orders", new HostPort("127.0.0.1", backend.getAddress().getPort()))
                    .withPolicy(Policy.parse("jwt-jwks " + jwksUrl + "\njwt-issuer https://issuer.test/\n"
                            + "jwt-audience api\nresponse-header X-Frame-Options: DENY\n"));
            AgentConfig agent = fixture.agentConfig("orders", backend.getAddress().getPort()).withTunnels(List.of(spec));
            fixture.expose(agent);
            int http = fixture.gateway.httpPort().orElseThrow();
            String host = "orders." + DOMAIN;
            Date later = new Date(System.currentTimeMillis() + 600_000);

            HttpTestClient.Response missing = get(http, host, "");
            assertEquals(401, missing.status());
            assertEquals("Bearer realm=\"orders.login.test\"", missing.headers().get("www-authenticate"));

            HttpTestClient.Response ok = get(http, host, "Authorization: Bearer " + token(key, "api", later)
                    + "\r\nX-Diglett-User: mallory\r\nX-Diglett-Email: mallory@example.com\r\n"
                    + "X_Diglett_Email: underscored@example.com\r\nx-diglett-role: admin\r\n"
                    + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n");
            assertEquals(200, ok.status());
            assertEquals("user=[svc-7] email=[svc@example.com] bearer=true upgrade=null all=[X-diglett-email:"
                    + "[svc@example.com], X-diglett-user:[svc-7]]", new String(ok.body(), StandardCharsets.UTF_8),
                    "the verified subject, never the client's own identity headers however spelled, and no h2c"
                    + " upgrade past the gateway");
            assertEquals("DENY", ok.headers().get("x-frame-options"), "the response header rule replaced the"
                    + " backend's");
            assertEquals("kept", ok.headers().get("x-backend"), "other response headers stay");

            for (String bad : List.of(token(key, "api", new Date(System.currentTimeMillis() - 300_000)),
                    token(key, "other-api", later), token(stranger, "api", later), "not.a.token")) {
                HttpTestClient.Response refused = get(http, host, "Authorization: Bearer " + bad + "\r\n");
                assertEquals(401, refused.status(), "expired, wrong audience, wrong key, malformed");
                assertEquals("Bearer realm=\"orders.login.test\", error=\"invalid_token\"",
                        refused.headers().get("www-authenticate"));
            }
            assertTrue(fetched.get() >= 1 && fetched.get() <= 3, "the key set is cached: fetched " + fetched.get());
            String metrics = AcmeTests.adminGet(fixture.gateway.startAdmin(new HostPort("127.0.0.1", 0), null),
                    "/metrics");
            assertTrue(metrics.contains("diglett_policy_decisions_total{name=\"orders\",result=\"unauthenticated\"}"
                    + " 5.0"), "the missing and the four bad tokens: " + metrics);

            // on a keep-alive connection: a verified token passes at once, and the response head of each is
            // rewritten
            try (Socket socket = HttpTestClient.connect(http)) {
                String auth = "Authorization: Bearer " + token(key, "api", later) + "\r\n";
                for (int i = 0; i < 3; i++) {
                    HttpTestClient.Response again = HttpTestClient.exchange(socket, "GET / HTTP/1.1\r\nHost: " + host
                            + "\r\n" + auth + "\r\n");
                    assertEquals(200, again.status());
                    assertEquals("DENY", again.headers().get("x-frame-options"));
                }
            }

            // a provider at a private address is refused unless the operator allows those (a new name: its keys
            // are not cached yet)
            IdentityCalls.allowPrivateProviders(false);
            fixture.expose(fixture.agentConfig("billing", backend.getAddress().getPort()).withTunnels(List.of(
                    new TunnelSpec("billing", spec.backend()).withPolicy(spec.policy()))));
            int before = fetched.get();
            HttpTestClient.Response privateRefused = get(http, "billing." + DOMAIN, "Authorization: Bearer "
                    + token(key, "api", later) + "\r\n");
            assertEquals(401, privateRefused.status(), "the keys at 127.0.0.1 are not fetched");
            assertEquals(before, fetched.get(), "never asked");
        } finally {
            keys.stop(0);
            backend.stop(0);
        }
    }

    /** Response header rules on a name without a login: every response's head, bodies untouched. */
    @Test
    void responseHeaderRulesRewriteEveryHeadAndLeaveBodiesAlone() throws Exception {
        com.sun.net.httpserver.HttpServer backend = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress("127.0.0.1", 0), 0);
        byte[] big = "0123456789abcdef".repeat(8192).getBytes(StandardCharsets.US_ASCII); // 128 KiB, chunked
        backend.createContext("/", exchange -> {
            exchange.getResponseHeaders().add("Set-Cookie", "a=1");
            exchange.getResponseHeaders().add("X-Powered-By", "leaky/1.0");
            boolean chunked = exchange.getRequestURI().getPath().equals("/big");
            exchange.sendResponseHeaders(200, chunked ? 0 : 2);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(chunked ? big : "ok".getBytes(StandardCharsets.US_ASCII));
            }
        });
        backend.start();
        GatewayConfig config = GatewayConfig.defaults().withIngress(new IngressSettings(DOMAIN,
                new HostPort("127.0.0.1", 0), null, null, null));
        try (TunnelFixture fixture = new TunnelFixture(config)) {
            TunnelSpec spec = new TunnelSpec("site", new HostPort("127.0.0.1", backend.getAddress().getPort()))
                    .withPolicy(Policy.parse("response-header X-Powered-By: diglett\n"
                            + "response-header Strict-Transport-Security: max-age=63072000\n"));
            fixture.expose(fixture.agentConfig("site", backend.getAddress().getPort()).withTunnels(List.of(spec)));
            int http = fixture.gateway.httpPort().orElseThrow();
            try (Socket socket = HttpTestClient.connect(http)) {
                for (String path : List.of("/", "/big", "/")) {
                    HttpTestClient.Response response = HttpTestClient.exchange(socket, "GET " + path
                            + " HTTP/1.1\r\nHost: site." + DOMAIN + "\r\n\r\n");
                    assertEquals(200, response.status());
                    assertEquals("diglett", response.headers().get("x-powered-by"), "replaced, not added: " + path);
                    assertEquals("max-age=63072000", response.headers().get("strict-transport-security"));
                    assertEquals("a=1", response.headers().get("set-cookie"));
                    if (path.equals("/big")) {
                        assertTrue(java.util.Arrays.equals(big, response.body()), "the chunked body whole");
                    } else {
                        assertEquals("ok", new String(response.body(), StandardCharsets.US_ASCII));
                    }
                }
            }
            // a login rule on a raw name cannot be enforced: refused with the reason
            assertFalse(Policy.parse("response-header X-A: b\n").none());
        } finally {
            backend.stop(0);
        }
    }
}
