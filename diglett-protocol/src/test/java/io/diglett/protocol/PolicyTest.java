package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Visitor policies: their frame, the address rules, and the operator's narrowing. */
class PolicyTest {

    private static InetAddress ip(String text) throws Exception {
        return InetAddress.getByName(text);
    }

    private static Policy policy(String text) {
        return Policy.parse(text);
    }

    @Test
    void roundTripsThroughItsFrame() {
        Policy policy = policy("allow-cidr 10.0.0.0/8\nallow-cidr 2001:db8::/32\ndeny-cidr 10.1.0.0/16\nrate-limit 20/s\n");
        Frame frame = policy.encode(UnpooledByteBufAllocator.DEFAULT, 3);
        try {
            assertEquals(FrameKind.POLICY, frame.kind());
            assertEquals(3, frame.id());
            assertEquals(policy, Policy.decode(frame));
            assertEquals("allow-cidr 10.0.0.0/8\nallow-cidr 2001:db8:0:0:0:0:0:0/32\ndeny-cidr 10.1.0.0/16\n"
                    + "rate-limit 20\n", policy.text());
        } finally {
            frame.release();
        }
    }

    @Test
    void denyBeatsAllowAndAnEmptyAllowListAdmitsEveryone() throws Exception {
        Policy policy = policy("allow-cidr 10.0.0.0/8\ndeny-cidr 10.1.0.0/16\n");
        assertTrue(policy.admits(ip("10.2.3.4")));
        assertFalse(policy.admits(ip("10.1.3.4")), "denied inside an allowed block");
        assertFalse(policy.admits(ip("192.0.2.1")), "outside every allowed block");
        assertTrue(policy.admits(ip("::ffff:10.2.3.4")), "an IPv4-mapped address is its IPv4 address");
        assertFalse(policy.admits(ip("2001:db8::1")), "IPv6 outside the (IPv4) allowed blocks");
        Policy denyOnly = policy("deny-cidr 192.0.2.0/24\n");
        assertTrue(denyOnly.admits(ip("198.51.100.1")));
        assertFalse(denyOnly.admits(ip("192.0.2.7")));
        assertTrue(Policy.NONE.admits(ip("192.0.2.7")));
    }

    @Test
    void anOperatorNarrowsAndNeverWidens() {
        Policy operator = policy("allow-cidr 10.0.0.0/8\ndeny-cidr 10.9.0.0/16\nrate-limit 5\n");
        assertEquals(policy("allow-cidr 10.0.0.0/8\ndeny-cidr 10.9.0.0/16\nrate-limit 5\n"),
                Policy.NONE.narrowedBy(operator), "an agent without rules gets the operator's");
        assertEquals(policy("allow-cidr 10.1.0.0/16\ndeny-cidr 10.9.0.0/16\ndeny-cidr 10.1.2.0/24\nrate-limit 5\n"),
                policy("allow-cidr 10.1.0.0/16\ndeny-cidr 10.1.2.0/24\nrate-limit 50\n").narrowedBy(operator),
                "the agent's narrower block, both deny lists, the lower rate");
        assertEquals(policy("allow-cidr 10.0.0.0/8\ndeny-cidr 10.9.0.0/16\nrate-limit 2\n"),
                policy("allow-cidr 0.0.0.0/0\nrate-limit 2\n").narrowedBy(operator),
                "a wider block is cut to the operator's");
        IllegalArgumentException outside = assertThrows(IllegalArgumentException.class,
                () -> policy("allow-cidr 192.0.2.0/24\n").narrowedBy(operator));
        assertTrue(outside.getMessage().contains("outside what the operator allows"), outside.getMessage());
    }

    @Test
    void anUnknownOrWrongRuleIsRefusedByName() {
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> policy("saml-metadata https://id.example.com\n"));
        assertTrue(unknown.getMessage().startsWith("unknown policy rule 'saml-metadata'"), unknown.getMessage());
        assertThrows(IllegalArgumentException.class, () -> policy("allow-cidr example.com\n"), "never a host name");
        assertThrows(IllegalArgumentException.class, () -> policy("allow-cidr 10.0.0.0/33\n"));
        assertThrows(IllegalArgumentException.class, () -> policy("rate-limit 0/s\n"));
        assertThrows(IllegalArgumentException.class, () -> policy("allow-cidr 10.0.0.1\n".repeat(65)),
                "at most 64 blocks a list");
        Frame binary = new Frame(FrameKind.POLICY, 1, Unpooled.wrappedBuffer(new byte[] {(byte) 0xff, (byte) 0xfe}));
        assertThrows(IllegalArgumentException.class, () -> Policy.decode(binary));
        binary.release();
        assertEquals(List.of(), policy("\n\n").allow());
        assertEquals("rate-limit 7\n", policy("RATE-LIMIT 7/s\n").text(), "rule names in any case");
    }

    @Test
    void headerRulesParseNarrowAndKeepOffTheGatewaysHeaders() {
        Policy agent = policy("request-header X-Api-Key: s3cret\nrequest-header X-Team:web\nremove-request-header Cookie\n");
        assertEquals(List.of(new Policy.Header("X-Api-Key", "s3cret"), new Policy.Header("X-Team", "web")),
                agent.setRequestHeaders());
        assertEquals(List.of("cookie"), agent.removeRequestHeaders());
        assertTrue(agent.rewritesHeaders());
        assertEquals(agent, Policy.parse(agent.text()), "round trip");
        Policy operator = policy("request-header X-Team: ci\nremove-request-header Authorization\n");
        Policy both = agent.narrowedBy(operator);
        assertEquals(List.of(new Policy.Header("X-Team", "ci"), new Policy.Header("X-Api-Key", "s3cret")),
                both.setRequestHeaders(), "the operator's value wins");
        assertEquals(List.of("cookie", "authorization"), both.removeRequestHeaders());
        for (String reserved : List.of("Host", "Content-Length", "Transfer-Encoding", "X-Forwarded-For", "Connection",
                "X-Diglett-User")) {
            assertThrows(IllegalArgumentException.class, () -> policy("request-header " + reserved + ": x\n"),
                    reserved);
            assertThrows(IllegalArgumentException.class, () -> policy("remove-request-header " + reserved + "\n"),
                    reserved);
        }
        assertThrows(IllegalArgumentException.class, () -> policy("request-header X-A: a\u0001b\n"), "control");
        assertThrows(IllegalArgumentException.class, () -> policy("request-header Bad Name: x\n"));
        assertThrows(IllegalArgumentException.class, () -> policy("request-header NoColon\n"));
    }

    @Test
    void theOperatorsDenyBlocksAreNeverPushedOutAndNothingIsCut() {
        Policy operator = policy("deny-cidr 203.0.113.0/24\n");
        StringBuilder many = new StringBuilder();
        for (int i = 0; i < Policy.MAX_BLOCKS; i++) {
            many.append("deny-cidr 10.0.").append(i).append(".0/24\n");
        }
        IllegalArgumentException over = assertThrows(IllegalArgumentException.class,
                () -> policy(many.toString()).narrowedBy(operator));
        assertTrue(over.getMessage().contains("more than 64 blocks"), over.getMessage());
        assertEquals(Cidr.parse("203.0.113.0/24"), policy("deny-cidr 10.0.0.0/8\n").narrowedBy(operator).deny().get(0),
                "the operator's first");
    }

    @Test
    void blocksAreAddressesOnlyNeverAResolverOrALegacyForm() {
        for (String bad : List.of("1.2.3.4.5", "10.1/16", "010.0.0.1", "4294967295", "256.0.0.1", "localhost",
                "10.0.0.0/8\u001b[2J", "::g", "1.2.3")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse(bad), bad);
            assertTrue(e.getMessage().chars().noneMatch(c -> c < 0x20), "escaped: " + e.getMessage());
        }
        assertEquals("10.0.0.0/8", Cidr.parse("10.1.2.3/8").toString());
        assertEquals("10.0.0.1/32", Cidr.parse("::ffff:10.0.0.1").toString(), "an IPv4-mapped block is IPv4's");
        assertEquals("10.0.0.0/8", Cidr.parse("::ffff:10.0.0.0/104").toString());
        assertEquals("2001:db8:0:0:0:0:0:0/32", Cidr.parse("2001:db8::/32").toString());
    }

    @Test
    void basicAuthCarriesASlowSaltedHashAndTheOperatorsUsersWin() {
        Policy.BasicCredential alice = Policy.BasicCredential.hash("alice", "s3cret");
        assertTrue(alice.matches("s3cret"));
        assertFalse(alice.matches("s3cret "));
        assertTrue(!alice.toString().contains("s3cret") && alice.toString().startsWith("alice:pbkdf2-sha256:310000:"));
        Policy agent = policy("basic-auth " + alice + "\n");
        assertEquals(List.of(alice), agent.basicAuth());
        assertEquals(agent, Policy.parse(agent.text()));
        assertTrue(agent.rewritesHeaders(), "HTTP only");
        Policy.BasicCredential ops = Policy.BasicCredential.hash("ops", "x");
        assertEquals(List.of(ops), agent.narrowedBy(policy("basic-auth " + ops + "\n")).basicAuth());
        assertEquals(List.of(alice), agent.narrowedBy(Policy.NONE).basicAuth());
        assertThrows(IllegalArgumentException.class, () -> policy("basic-auth alice:secret\n"), "never a password");
        assertThrows(IllegalArgumentException.class, () -> policy("basic-auth alice:pbkdf2-sha256:1000:AAAA:AAAA\n"),
                "too few iterations, a short salt");
    }

    @Test
    void loginRulesParseRoundTripAndStayOne() {
        Policy jwt = policy("jwt-jwks https://login.example.com/jwks.json\njwt-issuer https://login.example.com/\n"
                + "jwt-audience api\nresponse-header X-Frame-Options: DENY\n");
        assertEquals(new Policy.Jwt("https://login.example.com/jwks.json", "https://login.example.com/", "api"),
                jwt.jwt());
        assertEquals(List.of(new Policy.Header("X-Frame-Options", "DENY")), jwt.setResponseHeaders());
        assertEquals(jwt, Policy.parse(jwt.text()), "round trip");
        Policy oidc = policy("oidc-issuer https://id.example.com\noidc-client-id web\noidc-client-secret s3cret\n"
                + "oidc-allow Alice@Example.com\noidc-allow @team.example\n");
        assertEquals(List.of("alice@example.com", "@team.example"), oidc.oidc().allow());
        assertTrue(oidc.oidc().allows("ALICE@example.com"));
        assertTrue(oidc.oidc().allows("bob@team.example"));
        assertFalse(oidc.oidc().allows("bob@example.com"));
        assertFalse(oidc.oidc().allows(null), "no verified address: not allowed");
        assertEquals(oidc, Policy.parse(oidc.text()), "round trip");
        assertFalse(oidc.oidc().toString().contains("s3cret"), "the secret is never shown");
        assertFalse(oidc.shown().contains("s3cret"), "nor logged");
        assertTrue(oidc.shown().contains("oidc-client-secret ...\n"), oidc.shown());
        assertTrue(oidc.asksLogin());
        assertThrows(IllegalArgumentException.class, () -> policy("oidc-issuer https://id.example.com\n"
                + "oidc-client-id web\n"), "an allow list is required");
        assertThrows(IllegalArgumentException.class, () -> policy("oidc-issuer http://id.example.com\n"
                + "oidc-client-id web\noidc-allow *\n"), "http only to a loopback host");
        assertEquals("http://127.0.0.1:8080/realms/x", policy("oidc-issuer http://127.0.0.1:8080/realms/x\n"
                + "oidc-client-id web\noidc-allow *\n").oidc().issuer());
        assertThrows(IllegalArgumentException.class, () -> policy("jwt-audience api\n"), "needs jwt-jwks");
        assertThrows(IllegalArgumentException.class, () -> policy("jwt-jwks https://a.example/k\n"
                + "basic-auth " + Policy.BasicCredential.hash("alice", "x") + "\n"), "one way to log in");
        assertThrows(IllegalArgumentException.class, () -> policy("jwt-jwks https://a.example/k\n"
                + "jwt-jwks https://b.example/k\n"), "one of each");
        assertThrows(IllegalArgumentException.class, () -> policy("response-header Content-Length: 0\n"),
                "never the framing");
    }

    /** The operator's login replaces the agent's; at the same provider the agent keeps only what both allow. */
    @Test
    void theOperatorsLoginWins() {
        Policy operator = policy("oidc-issuer https://id.example.com\noidc-client-id ops\noidc-client-secret x\n"
                + "oidc-allow @example.com\n");
        Policy open = Policy.NONE.narrowedBy(operator);
        assertEquals(operator.oidc(), open.oidc(), "an agent without a login gets the operator's");
        Policy basic = policy("basic-auth " + Policy.BasicCredential.hash("alice", "x") + "\n").narrowedBy(operator);
        assertEquals(List.of(), basic.basicAuth(), "the operator's login replaces the agent's");
        assertEquals(operator.oidc(), basic.oidc());
        Policy narrower = policy("oidc-issuer https://id.example.com\noidc-client-id mine\noidc-allow alice@example.com\n"
                + "oidc-allow @other.example\n").narrowedBy(operator);
        assertEquals(List.of("alice@example.com"), narrower.oidc().allow(), "only what both allow");
        assertEquals("ops", narrower.oidc().clientId(), "the operator's client");
        assertThrows(IllegalArgumentException.class, () -> policy("oidc-issuer https://id.example.com\n"
                + "oidc-client-id mine\noidc-allow @other.example\n").narrowedBy(operator), "nothing both allow");
        Policy headers = policy("response-header X-Frame-Options: SAMEORIGIN\n").narrowedBy(
                policy("response-header X-Frame-Options: DENY\n"));
        assertEquals(List.of(new Policy.Header("X-Frame-Options", "DENY")), headers.setResponseHeaders());
    }
}
