package io.diglett.server.link;

import io.diglett.common.logging.RateLimitedLog;
import io.diglett.protocol.Requests;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.PreLoginLimits;
import io.netty.channel.Channel;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.NavigableSet;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who may hold a connection on the agent port. A connection that has not logged in yet is <em>pending</em>: it
 * holds a place in the pending pool ({@code --max-pending-logins}) and, for its source,
 * {@code --max-pending-logins-per-ip}, and has the first-byte and login deadlines ({@link PreLoginGuard} keeps
 * them). Once it logged in it is an <em>agent</em> and counts against {@code --max-agents} instead, until it
 * closes. So anonymous sockets, however many, use up the pending budget only, never the room of agents that log
 * in.
 *
 * <p>A source over its own share is refused. Otherwise, when the pool is full, the new connection takes the place
 * of the pending connection least likely to be an agent, which is closed ({@link #EVICTED}): the oldest that has
 * not sent a byte yet, else the oldest of all. An agent sends its ClientHello at once and logs in within a few
 * round trips, so it is neither silent nor the oldest while idle sockets come and go; sockets from many sources
 * then push each other out instead of keeping agents out until their deadlines.
 *
 * <p>Links live on several event loops: the pool (counts, the two eviction orders, the entries per source) is
 * guarded by this object's lock, each step O(log n) in the pool's size, and a source's entry exists only while
 * it has a pending connection. A place leaves the pool once (login, close, deadline or eviction, whichever
 * comes first): later steps of the same connection find it gone and do nothing. Refusals, evictions and
 * timeouts are counted in {@link LinkEvents#handshakeFailed} by reason and logged at most once a second per
 * kind.
 */
public final class LinkAdmission {

    private static final Logger log = LoggerFactory.getLogger(LinkAdmission.class);

    /** Metric reasons ({@code diglett_handshake_failures_total{reason=...}}). */
    public static final String PENDING_LOGINS = "pending_logins";
    public static final String PENDING_LOGINS_PER_IP = "pending_logins_per_ip";
    public static final String EVICTED = "evicted";
    public static final String FIRST_BYTE_TIMEOUT = "first_byte_timeout";
    public static final String LOGIN_TIMEOUT = "login_timeout";
    public static final String MAX_AGENTS = "max_agents";

    /**
     * A pending connection's place in the pool. Its mutable fields are guarded by the admission's lock; it is in
     * {@link #silent} or {@link #spoke} exactly while {@link #held}.
     */
    static final class Place {
        final long order;
        final InetAddress source;
        final Channel channel;
        final long sinceNanos;
        boolean held = true;
        boolean silent = true;

        Place(long order, InetAddress source, Channel channel, long sinceNanos) {
            this.order = order;
            this.source = source;
            this.channel = channel;
            this.sinceNanos = sinceNanos;
        }
    }

    private static final Comparator<Place> OLDEST_FIRST = Comparator.comparingLong(place -> place.order);

    private final Supplier<GatewayConfig> config;
    private final LinkEvents events;
    private final LongSupplier nanoClock;
    private final AtomicInteger agents = new AtomicInteger();
    private final RateLimitedLog refusals;
    private final RateLimitedLog evictions;
    private final RateLimitedLog timeouts;
    private final RateLimitedLog full;

    // the pool, guarded by this
    private long admitted;
    private int pending;
    private final Map<InetAddress, Integer> pendingBySource = new HashMap<>();
    /** Pending connections that have not sent a byte, oldest first. */
    private final NavigableSet<Place> silent = new TreeSet<>(OLDEST_FIRST);
    /** Pending connections that have, oldest (by their accept) first. */
    private final NavigableSet<Place> spoke = new TreeSet<>(OLDEST_FIRST);

    /**
     * @param config    the settings in force (a reload changes the limits for new connections and logins)
     * @param events    where refusals, evictions and timeouts are counted
     * @param nanoClock monotonic time: the age of pending connections, the rate of log lines
     */
    public LinkAdmission(Supplier<GatewayConfig> config, LinkEvents events, LongSupplier nanoClock) {
        this.config = config;
        this.events = events;
        this.nanoClock = nanoClock;
        java.time.Duration second = java.time.Duration.ofSeconds(1);
        this.refusals = new RateLimitedLog(log, second, nanoClock);
        this.evictions = new RateLimitedLog(log, second, nanoClock);
        this.timeouts = new RateLimitedLog(log, second, nanoClock);
        this.full = new RateLimitedLog(log, second, nanoClock);
    }

    /**
     * A new connection on the agent port: the guard to put first in its pipeline, or {@code null} when it is
     * over a pending limit (counted and logged here; the caller closes it at once). When it takes the place of
     * an evicted connection, that one is closed here (on its own event loop), counted and logged.
     */
    public PreLoginGuard admit(Channel channel) {
        SocketAddress remote = channel.remoteAddress();
        InetAddress source = remote instanceof InetSocketAddress inet && inet.getAddress() != null
                ? sourceOf(inet.getAddress()) : null;
        PreLoginLimits limits = config.get().preLogin();
        long now = nanoClock.getAsLong();
        Place place = null;
        Place evicted = null;
        String refused = null;
        String reason = null;
        synchronized (this) {
            if (source != null && pendingBySource.getOrDefault(source, 0) >= limits.maxPendingLoginsPerIp()) {
                reason = PENDING_LOGINS_PER_IP;
                refused = limits.maxPendingLoginsPerIp() + " connections from this address have not logged in"
                        + " yet, the limit (--max-pending-logins-per-ip)";
            } else if (pending > limits.maxPendingLogins()) {
                reason = PENDING_LOGINS;
                refused = pending + " connections have not logged in yet, more than the limit"
                        + " (--max-pending-logins " + limits.maxPendingLogins() + ", lowered since)";
            } else {
                if (pending == limits.maxPendingLogins()) {
                    evicted = evictOne();
                }
                place = new Place(admitted++, source, channel, now);
                silent.add(place);
                pending++;
                if (source != null) {
                    pendingBySource.merge(source, 1, Integer::sum);
                }
            }
        }
        if (refused != null) {
            events.handshakeFailed(reason);
            refusals.warn("agent connection from {} refused before login: {}", address(remote), refused);
            return null;
        }
        if (evicted != null) {
            events.handshakeFailed(EVICTED);
            evictions.info("agent connection from {} closed: evicted for a new connection, the pending pool being"
                            + " full (--max-pending-logins {}); it was the oldest {}, pending for {} ms",
                    address(evicted.channel.remoteAddress()), limits.maxPendingLogins(),
                    evicted.silent ? "that had sent no byte" : "of all (none was silent)",
                    TimeUnit.NANOSECONDS.toMillis(now - evicted.sinceNanos));
            evicted.channel.close();
        }
        return new PreLoginGuard(this, place, limits);
    }

    /** Takes the place least likely to be an agent out of the full pool. Holding the lock. */
    private Place evictOne() {
        Place victim = silent.isEmpty() ? spoke.first() : silent.first();
        leave(victim);
        return victim;
    }

    /** The connection at {@code place} sent its first byte: it is no longer among the silent ones. */
    synchronized void spoke(Place place) {
        if (place.held && place.silent) {
            silent.remove(place);
            place.silent = false;
            spoke.add(place);
        }
    }

    /**
     * The connection at {@code place} logged in or closed: its place is free.
     *
     * @return false if it had left already (evicted: its close is on the way)
     */
    synchronized boolean leavePending(Place place) {
        if (!place.held) {
            return false;
        }
        leave(place);
        return true;
    }

    /** Holding the lock. */
    private void leave(Place place) {
        (place.silent ? silent : spoke).remove(place);
        place.held = false;
        pending--;
        if (place.source != null) {
            pendingBySource.computeIfPresent(place.source, (key, n) -> n <= 1 ? null : n - 1);
        }
    }

    /**
     * A link logged in: it counts as an agent, unless {@code --max-agents} are logged in already.
     *
     * @return {@code null} if counted, else why not (counted in metrics and logged here)
     */
    String enterAgent(Channel channel) {
        int max = config.get().limits().maxAgents();
        if (agents.incrementAndGet() > max) {
            agents.decrementAndGet();
            events.handshakeFailed(MAX_AGENTS);
            String reason = "gateway full: " + max + " agents logged in, the limit";
            full.warn("agent {} refused at login: {} (--max-agents)", address(channel.remoteAddress()), reason);
            return reason;
        }
        return null;
    }

    /** A logged-in link closed. */
    void leaveAgent() {
        agents.decrementAndGet();
    }

    /**
     * The connection at {@code place} missed a deadline ({@code reason}, a metric label): its place is freed,
     * counted and logged; the caller closes it.
     *
     * @return false if it had left the pool already (evicted: its close is on the way), nothing done
     */
    boolean timedOut(Place place, String reason, String what) {
        if (!leavePending(place)) {
            return false;
        }
        events.handshakeFailed(reason);
        timeouts.info("agent connection from {} closed: {}", address(place.channel.remoteAddress()), what);
        return true;
    }

    /** Connections on the agent port that have not logged in. */
    public synchronized int pending() {
        return pending;
    }

    /** Of those, from {@code address}'s source (its IPv6 /64). */
    public synchronized int pendingFrom(InetAddress address) {
        return pendingBySource.getOrDefault(sourceOf(address), 0);
    }

    /** Links that logged in and are open. */
    public int agents() {
        return agents.get();
    }

    /**
     * What the per-source limit counts {@code address} as: an IPv4 address itself, an IPv6 address by its /64
     * prefix (a host usually has a whole /64 to pick addresses from).
     */
    static InetAddress sourceOf(InetAddress address) {
        if (!(address instanceof Inet6Address)) {
            return address;
        }
        byte[] prefix = Arrays.copyOf(Arrays.copyOf(address.getAddress(), 8), 16);
        try {
            return InetAddress.getByAddress(prefix);
        } catch (UnknownHostException e) {
            throw new IllegalStateException("16 bytes are an IPv6 address", e);
        }
    }

    private static String address(SocketAddress remote) {
        String text = Requests.address(remote);
        return text != null ? text : String.valueOf(remote);
    }
}
