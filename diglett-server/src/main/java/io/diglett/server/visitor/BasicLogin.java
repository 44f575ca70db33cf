package io.diglett.server.visitor;

import io.diglett.protocol.Policy;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
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

    private static final ThreadPoolExecutor CHECKS = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(MAX_WAITING_CHECKS), r -> {
                Thread thread = new Thread(r, "diglett-passwords");
                thread.setDaemon(true);
                return thread;
            });

    private final List<Policy.BasicCredential> users;
    private final LongSupplier nanos;
    /** This name's checks waiting or running. */
    private final java.util.concurrent.atomic.AtomicInteger checks = new java.util.concurrent.atomic.AtomicInteger();
    /**
     * A credential that matches no password, of the users' highest iteration count: checked for an unknown user, so
     * that both take as long. Made on the password thread when first needed (a slow hash).
     */
    private Policy.BasicCredential nobody;
    /** Authorization headers verified lately (by their SHA-256), the user each names, and until when. */
    private final Map<String, Map.Entry<String, Long>> verified;

    BasicLogin(List<Policy.BasicCredential> users, LongSupplier nanos) {
        this(users, nanos, MAX_VERIFIED);
    }

    /** With at most {@code maxVerified} verified headers kept (the test's bound). */
    BasicLogin(List<Policy.BasicCredential> users, LongSupplier nanos, int maxVerified) {
        this.users = users;
        this.nanos = nanos;
        this.verified = new LinkedHashMap<>(16, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Map.Entry<String, Long>> eldest) {
                return size() > maxVerified;
            }
        };
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
        String known = known(key);
        if (known != null) {
            return new Gate.Pass(new Identity(known, null));
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
        CompletableFuture<Identity> check = new CompletableFuture<>();
        if (checks.incrementAndGet() > MAX_CHECKS_PER_NAME) {
            checks.decrementAndGet();
            check.completeExceptionally(new RejectedExecutionException("more than " + MAX_CHECKS_PER_NAME
                    + " password checks of this name at once"));
            return new Gate.Check(check, refuse.challenge());
        }
        try {
            CHECKS.execute(() -> {
                try {
                    boolean ok = (credential != null ? credential : nobody()).matches(password) && credential != null;
                    if (ok) {
                        synchronized (verified) {
                            verified.put(key, Map.entry(user, nanos.getAsLong() + VERIFIED_NANOS));
                        }
                    }
                    check.complete(ok ? new Identity(user, null) : null);
                } finally {
                    checks.decrementAndGet();
                }
            });
        } catch (RejectedExecutionException e) {
            checks.decrementAndGet();
            check.completeExceptionally(e);
        }
        return new Gate.Check(check, refuse.challenge());
    }

    /** The credential an unknown user is checked against (on the password thread only). */
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
        String user = authorization == null ? null : known(Tokens.digest(authorization));
        return user == null ? null : new Identity(user, null);
    }

    @Override
    public void strip(HttpRequest request) {
        request.headers().remove(HttpHeaderNames.AUTHORIZATION); // the password stays at the gateway
    }

    private String known(String key) {
        synchronized (verified) {
            Map.Entry<String, Long> known = verified.get(key);
            return known != null && nanos.getAsLong() - known.getValue() < 0 ? known.getKey() : null;
        }
    }

    /** Verified headers held now (the bound is tested). */
    int verifiedCount() {
        synchronized (verified) {
            return verified.size();
        }
    }
}
