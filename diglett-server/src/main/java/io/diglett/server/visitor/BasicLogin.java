package io.diglett.server.visitor;

import io.diglett.protocol.Policy;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Basic auth against the salted slow hashes an agent sent: each new Authorization header is checked on one thread
 * of its own (at most one core busy with hashes, whatever clients send), compared in constant time, with an
 * unknown user costing the same; a verified header is then taken at once for a while. The backend gets
 * {@code X-Diglett-User} and never the password.
 */
public final class BasicLogin implements VisitorLogin {

    /** How long a verified Authorization header is taken without verifying it again. */
    static final long VERIFIED_NANOS = TimeUnit.MINUTES.toNanos(10);
    /** Verified headers kept per name. */
    static final int MAX_VERIFIED = 1_000;
    /** Password checks waiting for the verifier, over every name: beyond, a request gets 503. */
    static final int MAX_WAITING_CHECKS = 64;

    /** Password checks of one name waiting or running, at most: one name's flood leaves the queue to the others. */
    static final int MAX_CHECKS_PER_NAME = 8;

    /** One thread: at most one core busy with password hashes, whatever clients send. */
    private static final Workers CHECKS = new Workers("diglett-passwords", 1, MAX_WAITING_CHECKS,
            MAX_CHECKS_PER_NAME);

    private final List<Policy.BasicCredential> users;
    /** This name's checks waiting or running. */
    private final java.util.concurrent.atomic.AtomicInteger checks = new java.util.concurrent.atomic.AtomicInteger();
    /**
     * A credential that matches no password, of the users' highest iteration count: checked for an unknown user, so
     * that both take as long. Made on the password thread when first needed (a slow hash).
     */
    private Policy.BasicCredential nobody;
    /** Authorization headers verified lately. */
    private final Verified verified;

    BasicLogin(List<Policy.BasicCredential> users, LongSupplier nanos) {
        this(users, nanos, MAX_VERIFIED);
    }

    /** With at most {@code maxVerified} verified headers kept (the test's bound). */
    BasicLogin(List<Policy.BasicCredential> users, LongSupplier nanos, int maxVerified) {
        this.users = users;
        this.verified = new Verified(maxVerified, nanos);
    }

    @Override
    public Gate gate(HttpRequest request, String target, String host, String authority, boolean https) {
        String authorization = request.headers().get(HttpHeaderNames.AUTHORIZATION);
        Gate.Refuse refuse = new Gate.Refuse("Basic realm=\"" + host.replaceAll("[^A-Za-z0-9.-]", "")
                + "\", charset=\"UTF-8\"");
        if (authorization == null || !authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
            return refuse;
        }
        String key = Tokens.digest(authorization);
        Identity known = verified.get(key);
        if (known != null) {
            return new Gate.Pass(known);
        }
        String pair;
        try {
            pair = new String(Base64.getDecoder().decode(authorization.substring(6).trim()), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return refuse;
        }
        int colon = pair.indexOf(':');
        if (colon < 0) {
            return refuse;
        }
        String user = pair.substring(0, colon);
        String password = pair.substring(colon + 1);
        Policy.BasicCredential credential = users.stream().filter(c -> c.user().equals(user)).findFirst()
                .orElse(null);
        CompletableFuture<Identity> check = CHECKS.submit(checks, () -> {
            boolean ok = (credential != null ? credential : nobody()).matches(password) && credential != null;
            if (!ok) {
                return null;
            }
            Identity who = new Identity(user, null);
            verified.put(key, who, VERIFIED_NANOS);
            return who;
        });
        return new Gate.Check(check, refuse.challenge());
    }

    /** The credential an unknown user is checked against (on the password thread only: one thread). */
    private Policy.BasicCredential nobody() {
        if (nobody == null) {
            int iterations = users.stream().mapToInt(Policy.BasicCredential::iterations).max()
                    .orElse(Policy.BasicCredential.ITERATIONS);
            nobody = new Policy.BasicCredential("-", iterations, Tokens.key(16), Tokens.key(32));
        }
        return nobody;
    }

    @Override
    public Identity again(HttpRequest request, String target, String host) {
        String authorization = request.headers().get(HttpHeaderNames.AUTHORIZATION);
        return authorization == null ? null : verified.get(Tokens.digest(authorization));
    }

    @Override
    public void strip(HttpRequest request) {
        request.headers().remove(HttpHeaderNames.AUTHORIZATION); // the password stays at the gateway
    }

    /** Verified headers held now (the bound is tested). */
    int verifiedCount() {
        return verified.size();
    }
}
