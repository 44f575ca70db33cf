package io.diglett.server.link;

import io.diglett.protocol.Cidr;
import io.diglett.protocol.Policy;
import java.util.List;
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

    /**
     * Nobody: for a name whose policy this gateway cannot read ({@code why}), which is refused rather than opened.
     * Every IPv4 and IPv6 address denied, and an allow rule no client passes for a client without an address.
     */
    public static VisitorPolicy closed(String why) {
        return new VisitorPolicy(new Policy(List.of(Cidr.parse("255.255.255.255/32")), List.of(
                Cidr.parse("0.0.0.0/0"), Cidr.parse("::/0")), 0), System::nanoTime, why);
    }

    /** Why a closed policy is closed, or {@code null}. */
    private final String closedBecause;

    private VisitorPolicy(Policy policy, LongSupplier nanos, String closedBecause) {
        this.policy = policy;
        this.nanos = nanos;
        this.login = null;
        this.closedBecause = closedBecause;
    }

    /** Why every client is refused ({@link #closed}), or {@code null}. */
    public String closedBecause() {
        return closedBecause;
    }

    private final Policy policy;
    private final LongSupplier nanos;
    private final io.diglett.server.visitor.VisitorLogin login;
    private final Map<ClientConnections.Source, Bucket> buckets = new ConcurrentHashMap<>();
    private final LongAdder allowed = new LongAdder();
    private final LongAdder denied = new LongAdder();
    private final LongAdder limited = new LongAdder();
    private final LongAdder unauthenticated = new LongAdder();

    public VisitorPolicy(Policy policy, LongSupplier nanos) {
        this.policy = policy;
        this.nanos = nanos;
        this.login = io.diglett.server.visitor.VisitorLogin.of(policy, nanos);
        this.closedBecause = null;
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

    /** How visitors log in, or {@code null}: none. */
    public io.diglett.server.visitor.VisitorLogin login() {
        return login;
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

    /** A request its login refused (401, or 403 for an account OpenID does not allow) or could not check. */
    public void refusedLogin() {
        unauthenticated.increment();
    }

    public long unauthenticated() {
        return unauthenticated.sum();
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
