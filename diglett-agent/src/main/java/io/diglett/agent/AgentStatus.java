package io.diglett.agent;

import io.diglett.common.HostPort;
import io.diglett.protocol.mux.StreamObserver;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * What the agent is doing, for its status view, {@code /api/status} and {@code /metrics}: its state, the
 * gateway's identity, each name's URLs and figures, its links, the recent connections and the last error. Written
 * on the agent's event loops, read from any thread.
 */
public final class AgentStatus {

    /** Where the agent is. */
    public enum State { STARTING, CONNECTING, ONLINE, RECONNECTING, REFUSED, STOPPED }

    /** Figures of one name. */
    public static final class Tunnel {
        final String name;
        final String backend;
        /** Bytes from public clients to the backend. */
        final LongAdder bytesIn = new LongAdder();
        /** Bytes from the backend to public clients. */
        final LongAdder bytesOut = new LongAdder();
        final LongAdder connections = new LongAdder();
        final LongAdder backendFailures = new LongAdder();
        final AtomicInteger open = new AtomicInteger();
        volatile Registration registration;
        /** The gateway's notice on the name's HTTPS certificate, or {@code null}. */
        volatile String certificate;

        Tunnel(String name, String backend) {
            this.name = name;
            this.backend = backend;
        }

        public String name() {
            return name;
        }

        public String backend() {
            return backend;
        }

        public Registration registration() {
            return registration;
        }

        /** What the gateway last said of the name's HTTPS certificate (ACME), or {@code null}. */
        public String certificate() {
            return certificate;
        }

        public long bytesIn() {
            return bytesIn.sum();
        }

        public long bytesOut() {
            return bytesOut.sum();
        }

        public long connections() {
            return connections.sum();
        }

        public long backendFailures() {
            return backendFailures.sum();
        }

        public int open() {
            return open.get();
        }
    }

    /** Where one link of the agent's session is. */
    public enum LinkState {
        /** Dialing, or logging in or joining. */
        CONNECTING,
        /** Carrying streams. */
        ONLINE,
        /** Lost; tried again after the backoff. */
        RETRYING,
        /** Not opened: the gateway speaks protocol version 4 (one link), or refused this link (its link limit). */
        UNUSED
    }

    /** One link of the agent (one of {@code --links}): where it is and its streams. */
    public static final class Link {
        final int slot;
        volatile int number;
        volatile LinkState state = LinkState.CONNECTING;
        final AtomicInteger open = new AtomicInteger();

        Link(int slot) {
            this.slot = slot;
        }

        /** Which of the agent's links, 1 to {@code --links}. */
        public int slot() {
            return slot;
        }

        /** Its number in the gateway's session (1: the link that logged in), 0 while not online. */
        public int number() {
            return number;
        }

        public LinkState state() {
            return state;
        }

        /** Streams open on it. */
        public int open() {
            return open.get();
        }
    }

    /** One finished public connection. */
    public record Connection(Instant at, String name, String client, Duration duration, long bytesIn,
                             long bytesOut, String result) {
    }

    static final int RECENT = 20;

    private final Clock clock;
    private volatile String gateway;
    private volatile String gatewayHost;
    private final Map<String, Tunnel> tunnels = new LinkedHashMap<>();
    private final ArrayDeque<Connection> recent = new ArrayDeque<>(RECENT);
    private final LongAdder reconnects = new LongAdder();
    private final List<Link> links;
    private volatile State state = State.STARTING;
    private volatile Instant stateSince;
    private volatile String fingerprint;
    private volatile String lastError;
    private volatile Instant lastErrorAt;
    private volatile Instant nextAttempt;

    AgentStatus(AgentConfig config, Clock clock) {
        this.clock = clock;
        this.gateway = config.gateway().toString();
        this.gatewayHost = config.gateway().host();
        this.stateSince = clock.instant();
        for (TunnelSpec spec : config.tunnels()) {
            tunnels.put(spec.name(), new Tunnel(spec.name(), spec.backend().toString()));
        }
        List<Link> all = new ArrayList<>();
        for (int slot = 1; slot <= config.links(); slot++) {
            all.add(new Link(slot));
        }
        links = List.copyOf(all);
    }

    /** Link {@code slot} (1 to {@code --links}). */
    Link link(int slot) {
        return links.get(slot - 1);
    }

    /** Link {@code slot} is now in {@code state}, with its number in the session ({@code 0} when not online). */
    void link(int slot, LinkState state, int number) {
        Link link = link(slot);
        link.number = number;
        link.state = state;
    }

    // ---------------------------------------------------------------- written by the agent

    void state(State value) {
        if (value == State.CONNECTING && (state == State.RECONNECTING)) {
            reconnects.increment();
        }
        state = value;
        stateSince = clock.instant();
        if (value != State.RECONNECTING) {
            nextAttempt = null;
        }
    }

    void online(List<Registration> registrations) {
        for (Registration registration : registrations) {
            Tunnel tunnel = tunnels.get(registration.name());
            if (tunnel != null) {
                tunnel.registration = registration;
            }
        }
        state(State.ONLINE);
    }

    /** The gateway took {@code name} from this agent (another agent of its token has it now). */
    /** What the gateway last said of {@code name}'s HTTPS certificate (version 6), or {@code null}. */
    String certificate(String name) {
        Tunnel tunnel = tunnels.get(name);
        return tunnel == null ? null : tunnel.certificate;
    }

    void certificate(String name, String text) {
        Tunnel tunnel = tunnels.get(name);
        if (tunnel != null) {
            tunnel.certificate = text;
        }
    }

    void withdrawn(String name, String reason) {
        Tunnel tunnel = tunnels.get(name);
        if (tunnel != null) {
            tunnel.registration = null;
        }
        error(reason);
    }

    void retrying(String reason, Duration in) {
        error(reason);
        state(State.RECONNECTING);
        nextAttempt = clock.instant().plus(in);
    }

    void error(String reason) {
        lastError = reason;
        lastErrorAt = clock.instant();
    }

    void fingerprint(String value) {
        fingerprint = value;
    }

    /** The observer of one new stream of {@code name}, for a client at {@code client}. */
    StreamObserver newStream(String name, String client) {
        return newStream(name, client, null);
    }

    /** The observer of one new stream of {@code name} on {@code link} ({@code null}: not counted per link). */
    StreamObserver newStream(String name, String client, Link link) {
        Tunnel tunnel = tunnels.get(name);
        if (tunnel == null) {
            return StreamObserver.NONE;
        }
        tunnel.connections.increment();
        tunnel.open.incrementAndGet();
        if (link != null) {
            link.open.incrementAndGet();
        }
        Instant start = clock.instant();
        return new StreamObserver() {
            private long in;
            private long out;
            private boolean opened;

            @Override
            public void opened() {
                opened = true;
            }

            @Override
            public void sent(int bytes) {
                out += bytes;
                tunnel.bytesOut.add(bytes);
            }

            @Override
            public void received(int bytes) {
                in += bytes;
                tunnel.bytesIn.add(bytes);
            }

            @Override
            public void closed(boolean clean, String reason) {
                tunnel.open.decrementAndGet();
                if (link != null) {
                    link.open.decrementAndGet();
                }
                if (!opened) {
                    tunnel.backendFailures.increment();
                }
                String result = clean ? "closed" : opened ? "reset: " + reason : "refused: " + reason;
                Instant now = clock.instant();
                remember(new Connection(start, name, client, Duration.between(start, now), in, out, result));
            }
        };
    }

    private void remember(Connection connection) {
        synchronized (recent) {
            if (recent.size() == RECENT) {
                recent.removeFirst();
            }
            recent.addLast(connection);
        }
    }

    // ---------------------------------------------------------------- read by views

    public State state() {
        return state;
    }

    public Instant stateSince() {
        return stateSince;
    }

    /** The agent dials {@code gateway} now (one of several given, or an address of a name with several). */
    void gateway(HostPort gateway) {
        this.gateway = gateway.toString();
        this.gatewayHost = gateway.host();
    }

    public String gateway() {
        return gateway;
    }

    /** The gateway's host, where the names' raw ports are. */
    public String gatewayHost() {
        return gatewayHost;
    }

    /** The gateway certificate's fingerprint once verified, or {@code null} (plaintext, not yet connected). */
    public String fingerprint() {
        return fingerprint;
    }

    public String lastError() {
        return lastError;
    }

    public Instant lastErrorAt() {
        return lastErrorAt;
    }

    public Instant nextAttempt() {
        return nextAttempt;
    }

    public long reconnects() {
        return reconnects.sum();
    }

    /** The agent's links, one per {@code --links}. */
    public List<Link> links() {
        return links;
    }

    /** How many links carry streams now. */
    public int linksOnline() {
        int online = 0;
        for (Link link : links) {
            if (link.state == LinkState.ONLINE) {
                online++;
            }
        }
        return online;
    }

    public List<Tunnel> tunnels() {
        return List.copyOf(tunnels.values());
    }

    /** The last finished connections, newest last. */
    public List<Connection> recent() {
        synchronized (recent) {
            return new ArrayList<>(recent);
        }
    }

    public Instant now() {
        return clock.instant();
    }
}
