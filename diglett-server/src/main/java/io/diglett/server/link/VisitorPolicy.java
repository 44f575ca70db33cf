package io.diglett.server.link;

import io.diglett.protocol.Policy;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * A name's visitor policy in force (the agent's, narrowed by the operator's) and what it decided: the address rules,
 * and a token bucket per client address for the rate (burst = the rate). Asked by the public listener for each raw
 * connection and by the ingress for each request, on their event loops: the buckets are a bounded concurrent map.
 */
public final class VisitorPolicy {

    /** What a visitor gets. */
    public enum Decision {
        ALLOWED, DENIED, LIMITED
    }

    /**
     * Clients (IPv4 addresses, IPv6 /64s) whose buckets are kept per name; beyond, the full (idle) ones go first,
     * then any.
     */
    static final int MAX_BUCKETS = 10_000;

    /** No rule: everyone at any rate. */
    public static final VisitorPolicy OPEN = new VisitorPolicy(Policy.NONE, System::nanoTime);

    private final Policy policy;
    private final LongSupplier nanos;
    private final Map<ClientConnections.Source, Bucket> buckets = new ConcurrentHashMap<>();
    private final LongAdder allowed = new LongAdder();
    private final LongAdder denied = new LongAdder();
    private final LongAdder limited = new LongAdder();

    public VisitorPolicy(Policy policy, LongSupplier nanos) {
        this.policy = policy;
        this.nanos = nanos;
    }

    public Policy policy() {
        return policy;
    }

    /** Whether {@code client} (a socket address; a non-IP one passes the address rules) may come in now. */
    public Decision admit(SocketAddress client) {
        if (policy.none()) {
            return Decision.ALLOWED;
        }
        InetAddress address = client instanceof InetSocketAddress inet ? inet.getAddress() : null;
        if (address == null ? !policy.allow().isEmpty() : !policy.admits(address)) {
            denied.increment(); // an address that cannot be told passes no allow rule
            return Decision.DENIED;
        }
        // a client's bucket: its IPv4 address, or its IPv6 /64 (one subscriber's: it cannot hop through it)
        if (policy.rateLimit() > 0 && address != null && !take(ClientConnections.Source.of(client))) {
            limited.increment();
            return Decision.LIMITED;
        }
        allowed.increment();
        return Decision.ALLOWED;
    }

    /**
     * Seconds a limited client should wait (Retry-After): its bucket has a token again within 1/rate s, and the
     * rate is at least 1 a second.
     */
    public long retryAfterSeconds() {
        return 1;
    }

    private boolean take(ClientConnections.Source address) {
        long now = nanos.getAsLong();
        Bucket bucket = buckets.get(address);
        if (bucket == null) {
            if (buckets.size() >= MAX_BUCKETS) {
                evict(now);
            }
            bucket = buckets.computeIfAbsent(address, a -> new Bucket(policy.rateLimit(), now));
        }
        return bucket.take(policy.rateLimit(), now);
    }

    /** Makes room: buckets that refilled (their client idle long enough) first, then any, down to 90%. */
    private void evict(long now) {
        int target = MAX_BUCKETS * 9 / 10;
        for (Iterator<Bucket> it = buckets.values().iterator(); it.hasNext() && buckets.size() > target; ) {
            if (it.next().full(policy.rateLimit(), now)) {
                it.remove();
            }
        }
        for (Iterator<Bucket> it = buckets.values().iterator(); it.hasNext() && buckets.size() > target; ) {
            it.next();
            it.remove();
        }
    }

    // ---------------------------------------------------------------- basic auth

    /** How long a verified Authorization header is taken without verifying it again. */
    static final long VERIFIED_NANOS = TimeUnit.MINUTES.toNanos(10);
    /** Verified headers kept per name. */
    static final int MAX_VERIFIED = 1_000;
    /** Password checks waiting for the verifier, over every name: beyond, a request gets 503. */
    static final int MAX_WAITING_CHECKS = 64;
    /**
     * A credential that matches no password: checked for an unknown user, so that both take as long (made on first
     * use: a slow hash).
     */
    private static final class Nobody {
        static final Policy.BasicCredential CREDENTIAL = Policy.BasicCredential.hash("-", "-");
    }
    /**
     * The slow password checks of every name, on one thread with a bounded queue: at most one core busy with
     * them, whatever clients send, and never an event loop.
     */
    private static final java.util.concurrent.ThreadPoolExecutor CHECKS = new java.util.concurrent.ThreadPoolExecutor(
            1, 1, 0, TimeUnit.SECONDS, new java.util.concurrent.ArrayBlockingQueue<>(MAX_WAITING_CHECKS), r -> {
                Thread thread = new Thread(r, "diglett-passwords");
                thread.setDaemon(true);
                return thread;
            });

    /** Authorization headers verified lately (by their SHA-256), the user each names, and until when. */
    private final java.util.LinkedHashMap<String, Map.Entry<String, Long>> verified =
            new java.util.LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Map.Entry<String, Long>> eldest) {
                    return size() > MAX_VERIFIED;
                }
            };

    /** What an Authorization header gets: a user at once, a check under way, or a refusal. */
    public record Login(String user, java.util.concurrent.CompletableFuture<String> check) {
        static final Login REFUSED = new Login(null, null);

        public boolean refused() {
            return user == null && check == null;
        }
    }

    /** Whether requests must name a basic-auth user. */
    public boolean asksLogin() {
        return !policy.basicAuth().isEmpty();
    }

    /**
     * {@code authorization} (a request's Authorization header, or {@code null}) checked against the users: a header
     * verified in the last minutes gets its user at once; a new one a check on the password thread, completed with
     * the user or {@code null} (failed with a RejectedExecutionException when too many wait); anything else is
     * refused.
     */
    public Login login(String authorization) {
        if (authorization == null || !authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
            return Login.REFUSED;
        }
        String key = key(authorization);
        long now = nanos.getAsLong();
        synchronized (verified) {
            Map.Entry<String, Long> known = verified.get(key);
            if (known != null && now - known.getValue() < 0) {
                return new Login(known.getKey(), null);
            }
        }
        String pair;
        try {
            pair = new String(java.util.Base64.getDecoder().decode(authorization.substring(6).trim()),
                    java.nio.charset.StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return Login.REFUSED;
        }
        int colon = pair.indexOf(':');
        if (colon < 0) {
            return Login.REFUSED;
        }
        String user = pair.substring(0, colon);
        String password = pair.substring(colon + 1);
        Policy.BasicCredential credential = policy.basicAuth().stream().filter(c -> c.user().equals(user))
                .findFirst().orElse(null);
        java.util.concurrent.CompletableFuture<String> check = new java.util.concurrent.CompletableFuture<>();
        try {
            CHECKS.execute(() -> {
                boolean ok = (credential != null ? credential : Nobody.CREDENTIAL).matches(password) && credential != null;
                if (ok) {
                    synchronized (verified) {
                        verified.put(key, Map.entry(user, nanos.getAsLong() + VERIFIED_NANOS));
                    }
                }
                check.complete(ok ? user : null);
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            check.completeExceptionally(e);
        }
        return new Login(null, check);
    }

    /** The user a header verified lately names, or {@code null} (then it needs a check: a new connection). */
    public String verifiedUser(String authorization) {
        if (authorization == null) {
            return null;
        }
        synchronized (verified) {
            Map.Entry<String, Long> known = verified.get(key(authorization));
            return known != null && nanos.getAsLong() - known.getValue() < 0 ? known.getKey() : null;
        }
    }

    private static String key(String authorization) {
        try {
            return java.util.Base64.getEncoder().encodeToString(java.security.MessageDigest.getInstance("SHA-256")
                    .digest(authorization.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Client addresses with a bucket now (the bound is tested). */
    int buckets() {
        return buckets.size();
    }

    public long allowed() {
        return allowed.sum();
    }

    public long denied() {
        return denied.sum();
    }

    public long limited() {
        return limited.sum();
    }

    /** A token bucket: {@code rate} tokens, refilled at {@code rate} a second. */
    private static final class Bucket {
        private double tokens;
        private long last;

        Bucket(int rate, long now) {
            this.tokens = rate;
            this.last = now;
        }

        synchronized boolean take(int rate, long now) {
            refill(rate, now);
            if (tokens >= 1) {
                tokens -= 1;
                return true;
            }
            return false;
        }

        synchronized boolean full(int rate, long now) {
            refill(rate, now);
            return tokens >= rate;
        }

        private void refill(int rate, long now) {
            double elapsed = (now - last) / (double) TimeUnit.SECONDS.toNanos(1);
            if (elapsed > 0) {
                tokens = Math.min(rate, tokens + elapsed * rate);
                last = now;
            }
        }
    }
}
