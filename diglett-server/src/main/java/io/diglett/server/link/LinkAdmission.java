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
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who may hold a connection on the agent port. A connection that has not logged in yet is <em>pending</em>: it
 * counts against {@code --max-pending-logins} and, for its source, {@code --max-pending-logins-per-ip}, and has
 * the first-byte and login deadlines ({@link PreLoginGuard} keeps them). Once it logged in it is an
 * <em>agent</em> and counts against {@code --max-agents} instead, until it closes. So anonymous sockets, however
 * many, use up the pending budget only, never the room of agents that log in.
 *
 * <p>Links live on several event loops: the counts are atomic, and a source's entry exists only while it has a
 * pending connection (the map holds at most {@code --max-pending-logins} entries). Refusals and timeouts are
 * counted in {@link LinkEvents#handshakeFailed} by reason and logged at most once a second per kind.
 */
public final class LinkAdmission {

    private static final Logger log = LoggerFactory.getLogger(LinkAdmission.class);

    /** Metric reasons ({@code diglett_handshake_failures_total{reason=...}}). */
    public static final String PENDING_LOGINS = "pending_logins";
    public static final String PENDING_LOGINS_PER_IP = "pending_logins_per_ip";
    public static final String FIRST_BYTE_TIMEOUT = "first_byte_timeout";
    public static final String LOGIN_TIMEOUT = "login_timeout";
    public static final String MAX_AGENTS = "max_agents";

    private final Supplier<GatewayConfig> config;
    private final LinkEvents events;
    private final AtomicInteger pending = new AtomicInteger();
    private final Map<InetAddress, Integer> pendingBySource = new ConcurrentHashMap<>();
    private final AtomicInteger agents = new AtomicInteger();
    private final RateLimitedLog refusals;
    private final RateLimitedLog timeouts;
    private final RateLimitedLog full;

    /**
     * @param config    the settings in force (a reload changes the limits for new connections and logins)
     * @param events    where refusals and timeouts are counted
     * @param nanoClock monotonic time for the rate of log lines
     */
    public LinkAdmission(Supplier<GatewayConfig> config, LinkEvents events, LongSupplier nanoClock) {
        this.config = config;
        this.events = events;
        java.time.Duration second = java.time.Duration.ofSeconds(1);
        this.refusals = new RateLimitedLog(log, second, nanoClock);
        this.timeouts = new RateLimitedLog(log, second, nanoClock);
        this.full = new RateLimitedLog(log, second, nanoClock);
    }

    /**
     * A new connection on the agent port: the guard to put first in its pipeline, or {@code null} when it is
     * over a pending limit (counted and logged here; the caller closes it at once).
     */
    public PreLoginGuard admit(Channel channel) {
        SocketAddress remote = channel.remoteAddress();
        InetAddress source = remote instanceof InetSocketAddress inet && inet.getAddress() != null
                ? sourceOf(inet.getAddress()) : null;
        String refused = enterPending(source);
        if (refused != null) {
            refusals.warn("agent connection from {} refused before login: {}", address(remote), refused);
            return null;
        }
        return new PreLoginGuard(this, source, config.get().preLogin());
    }

    /**
     * Counts a pending connection from {@code source} ({@code null}: unknown, global limit only).
     *
     * @return {@code null} if counted, else why not (its metric is counted)
     */
    String enterPending(InetAddress source) {
        PreLoginLimits limits = config.get().preLogin();
        if (source != null) {
            boolean[] counted = {false};
            pendingBySource.compute(source, (key, n) -> {
                int now = n == null ? 0 : n;
                if (now >= limits.maxPendingLoginsPerIp()) {
                    return n;
                }
                counted[0] = true;
                return now + 1;
            });
            if (!counted[0]) {
                events.handshakeFailed(PENDING_LOGINS_PER_IP);
                return limits.maxPendingLoginsPerIp() + " connections from this address have not logged in yet,"
                        + " the limit (--max-pending-logins-per-ip)";
            }
        }
        if (pending.incrementAndGet() > limits.maxPendingLogins()) {
            pending.decrementAndGet();
            leaveSource(source);
            events.handshakeFailed(PENDING_LOGINS);
            return limits.maxPendingLogins() + " connections have not logged in yet, the limit"
                    + " (--max-pending-logins)";
        }
        return null;
    }

    /** A pending connection from {@code source} logged in or closed. */
    void leavePending(InetAddress source) {
        pending.decrementAndGet();
        leaveSource(source);
    }

    private void leaveSource(InetAddress source) {
        if (source != null) {
            pendingBySource.computeIfPresent(source, (key, n) -> n <= 1 ? null : n - 1);
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

    /** A pending connection missed a deadline ({@code reason}, a metric label): counted and logged. */
    void timedOut(Channel channel, String reason, String what) {
        events.handshakeFailed(reason);
        timeouts.info("agent connection from {} closed: {}", address(channel.remoteAddress()), what);
    }

    /** Connections on the agent port that have not logged in. */
    public int pending() {
        return pending.get();
    }

    /** Of those, from {@code address}'s source (its IPv6 /64). */
    public int pendingFrom(InetAddress address) {
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
