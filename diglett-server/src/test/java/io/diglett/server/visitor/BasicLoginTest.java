package io.diglett.server.visitor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.Policy;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Basic auth: the bounded queue of password checks and the bounded memory of verified headers. */
class BasicLoginTest {

    private final AtomicLong nanos = new AtomicLong();
    /** The cheapest hash a policy accepts (100,000 iterations), so that the checks take little time. */
    private final Policy.BasicCredential alice = new Policy.BasicCredential("alice", 100_000, new byte[16],
            derive("right"));

    private static byte[] derive(String password) {
        try {
            return javax.crypto.SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(
                    new javax.crypto.spec.PBEKeySpec(password.toCharArray(), new byte[16], 100_000, 256)).getEncoded();
        } catch (java.security.GeneralSecurityException e) {
            throw new AssertionError(e);
        }
    }

    private static HttpRequest request(String user, String password) {
        HttpRequest request = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/");
        request.headers().set("Authorization", "Basic " + Base64.getEncoder().encodeToString((user + ":" + password)
                .getBytes(StandardCharsets.UTF_8)));
        return request;
    }

    /**
     * Password checks wait in one bounded queue whatever clients send: beyond it a login fails at once (the
     * ingress answers 503) instead of piling up work.
     */
    @Test
    void passwordChecksWaitInABoundedQueue() throws Exception {
        // many names, each flooded: at most MAX_CHECKS_PER_NAME of each, and at most the queue in all
        List<CompletableFuture<Identity>> checks = new ArrayList<>();
        int names = BasicLogin.MAX_WAITING_CHECKS * 2 / BasicLogin.MAX_CHECKS_PER_NAME;
        int perName = BasicLogin.MAX_CHECKS_PER_NAME * 2;
        long refusedOfFirst = 0;
        for (int n = 0; n < names; n++) {
            BasicLogin login = new BasicLogin(List.of(alice), nanos::get);
            for (int i = 0; i < perName; i++) {
                Gate gate = login.gate(request("alice", "guess" + i), "/", "web.gw.test", "web.gw.test", false);
                CompletableFuture<Identity> check = assertInstanceOf(Gate.Check.class, gate).check();
                checks.add(check);
                refusedOfFirst += n == 0 && check.isCompletedExceptionally() ? 1 : 0;
            }
        }
        assertTrue(refusedOfFirst >= perName - BasicLogin.MAX_CHECKS_PER_NAME, "one name holds at most "
                + BasicLogin.MAX_CHECKS_PER_NAME + " places: " + refusedOfFirst + " of its refused");
        int tries = names * perName;
        long refused = checks.stream().filter(CompletableFuture::isCompletedExceptionally).count();
        assertTrue(refused >= tries - BasicLogin.MAX_WAITING_CHECKS - names,
                "at most one running and " + BasicLogin.MAX_WAITING_CHECKS + " waiting: " + refused + " refused");
        for (var check : checks) {
            if (!check.isCompletedExceptionally()) {
                assertNull(check.get(60, TimeUnit.SECONDS), "a wrong password names no user");
            }
        }
    }

    /**
     * Verified headers are remembered for a while and at most so many: the oldest is forgotten (and checked again
     * next time), never memory without end.
     */
    @Test
    void verifiedHeadersAreBoundedAndExpire() throws Exception {
        BasicLogin login = new BasicLogin(List.of(alice), nanos::get, 3);
        // five different headers for the same right password: "alice:right" and four with a different user part
        // would fail, so vary the header's bytes instead (extra spaces after "Basic" are allowed by the parser)
        List<HttpRequest> requests = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            HttpRequest request = request("alice", "right");
            request.headers().set("Authorization", "Basic " + " ".repeat(i) + Base64.getEncoder().encodeToString(
                    "alice:right".getBytes(StandardCharsets.UTF_8)));
            requests.add(request);
            Gate gate = login.gate(request, "/", "web.gw.test", "web.gw.test", false);
            assertEquals(new Identity("alice", null), assertInstanceOf(Gate.Check.class, gate).check()
                    .get(60, TimeUnit.SECONDS));
        }
        assertEquals(3, login.verifiedCount(), "the bound");
        assertNull(login.again(requests.get(0), "/", "web.gw.test"), "the oldest was forgotten");
        assertEquals(new Identity("alice", null), login.again(requests.get(4), "/", "web.gw.test"));
        assertInstanceOf(Gate.Pass.class, login.gate(requests.get(4), "/", "web.gw.test", "web.gw.test", false),
                "a verified header passes at once");
        nanos.addAndGet(BasicLogin.VERIFIED_NANOS + 1);
        assertNull(login.again(requests.get(4), "/", "web.gw.test"), "and only for a while");
        assertInstanceOf(Gate.Refuse.class, login.gate(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET,
                "/"), "/", "web.gw.test", "web.gw.test", false), "no credentials: 401");
    }
}
