package io.diglett.server.admin;

import io.diglett.protocol.mux.BufferBudget;
import io.diglett.server.link.LinkEvents;
import io.diglett.server.link.Tunnel;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.util.function.IntSupplier;
import java.util.function.Supplier;

/**
 * The gateway's metrics (Prometheus names under {@code diglett_}). Per-tunnel figures are read from the live
 * tunnels at scrape time, so a name that goes away leaves no stale series; the rest are plain counters.
 */
public final class GatewayMetrics implements LinkEvents {

    private final PrometheusRegistry registry = new PrometheusRegistry();
    /**
     * Agent connections that ended before they were active, by where: not_tls, handshake, login, registration,
     * timeout; or by the pre-login limit that closed them: pending_logins, pending_logins_per_ip, evicted,
     * first_byte_timeout, login_timeout, max_agents.
     */
    private final Counter handshakeFailures;
    /** Refused logins and names, by reason: login_refused, name_not_allowed, name_reserved, name_in_use, name_invalid,
     * name_operator_site, withdrawn. */
    private final Counter authFailures;
    /** Seconds from a stream's Open to the agent's Ok: the backend connect through the tunnel. */
    private final Histogram streamOpenSeconds;
    /** Ingress requests answered by the gateway itself, by status (404, 502, ...). */
    private final Counter ingressAnswers;
    /** Public connections refused, by reason: per_ip_limit, stream_limit, agent_unavailable. */
    private final Counter connectionsRefused = Counter.builder().name("diglett_connections_refused_total")
            .help("Public connections (name ports and ingress) refused at once, by reason")
            .labelNames("reason").register(registry);
    /** Links that joined an agent's session (version 5). */
    private final Counter linksJoined = Counter.builder().name("diglett_links_joined_total")
            .help("Links that joined an agent's session (besides the one it logged in on)").register(registry);
    /** Public connections closed for idleness, by kind: ingress, tcp. */
    private final Counter idleCloses = Counter.builder().name("diglett_connections_idle_closed_total")
            .help("Public connections closed after their idle timeout, by kind (ingress, tcp)")
            .labelNames("kind").register(registry);

    private final Supplier<? extends Iterable<Tunnel>> tunnels;

    public GatewayMetrics(Supplier<? extends Iterable<Tunnel>> tunnels, IntSupplier agents) {
        this.tunnels = tunnels;
        handshakeFailures = Counter.builder().name("diglett_handshake_failures_total")
                .help("Agent connections that ended before their session was active, by stage")
                .labelNames("reason").register(registry);
        authFailures = Counter.builder().name("diglett_auth_failures_total")
                .help("Refused logins and name registrations, by reason").labelNames("reason").register(registry);
        streamOpenSeconds = Histogram.builder().name("diglett_stream_open_seconds")
                .help("Time from a public connection's Open to the agent's Ok (backend connected)")
                .unit(Unit.SECONDS).classicOnly()
                .classicUpperBounds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
                .register(registry);
        ingressAnswers = Counter.builder().name("diglett_ingress_answers_total")
                .help("Ingress requests the gateway answered itself (unknown name, backend down, bad request)")
                .labelNames("status").register(registry);
        GaugeWithCallback.builder().name("diglett_agents_connected").help("Agent links logged in")
                .callback(cb -> cb.call(agents.getAsInt())).register(registry);
        GaugeWithCallback.builder().name("diglett_tunnels").help("Names live (registered and exposed)")
                .callback(cb -> {
                    int n = 0;
                    for (Tunnel ignored : tunnels.get()) {
                        n++;
                    }
                    cb.call(n);
                }).register(registry);
        GaugeWithCallback.builder().name("diglett_tunnel_info")
                .help("One series per live name: its agent and public port").labelNames("name", "agent", "port")
                .callback(cb -> {
                    for (Tunnel t : tunnels.get()) {
                        cb.call(1, t.name(), t.exposure() == null ? "" : t.exposure().agent(),
                                Integer.toString(t.port()));
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("diglett_tunnel_streams_open").help("Streams open per name")
                .labelNames("name")
                .callback(cb -> tunnels.get().forEach(t -> cb.call(t.stats().open(), t.name()))).register(registry);
        GaugeWithCallback.builder().name("diglett_streams_open").help("Streams open on all names")
                .callback(cb -> {
                    long n = 0;
                    for (Tunnel t : tunnels.get()) {
                        n += t.stats().open();
                    }
                    cb.call(n);
                }).register(registry);
        CounterWithCallback.builder().name("diglett_policy_decisions")
                .help("Visitor policy decisions per name with a policy: allowed, denied (address rules), limited (rate),"
                        + " unauthenticated (its login refused or could not check a request)")
                .labelNames("name", "result")
                .callback(cb -> tunnels.get().forEach(t -> {
                    var visitors = t.visitors();
                    if (!visitors.policy().none()) {
                        cb.call(visitors.allowed(), t.name(), "allowed");
                        cb.call(visitors.denied(), t.name(), "denied");
                        cb.call(visitors.limited(), t.name(), "limited");
                        if (visitors.login() != null) {
                            cb.call(visitors.unauthenticated(), t.name(), "unauthenticated");
                        }
                    }
                })).register(registry);
        CounterWithCallback.builder().name("diglett_tunnel_connections").help("Public connections accepted per name")
                .labelNames("name")
                .callback(cb -> tunnels.get().forEach(t -> cb.call(t.stats().connections(), t.name())))
                .register(registry);
        CounterWithCallback.builder().name("diglett_tunnel_bytes").unit(Unit.BYTES)
                .help("Bytes carried per name: in = from public clients to the backend, out = back to clients")
                .labelNames("name", "direction")
                .callback(cb -> tunnels.get().forEach(t -> {
                    cb.call(t.stats().bytesIn(), t.name(), "in");
                    cb.call(t.stats().bytesOut(), t.name(), "out");
                })).register(registry);
        JvmMetrics.builder().register(registry);
    }

    /** Counts {@code acme}'s orders by result and its certificates by state. */
    public void watchAcme(io.diglett.server.acme.AcmeManager acme) {
        CounterWithCallback.builder().name("diglett_acme_orders").help("ACME orders finished, by result: issued,"
                        + " renewed, failed (the problem is logged), limited (a weekly budget was used up)")
                .labelNames("result")
                .callback(cb -> acme.orders().forEach((result, count) -> cb.call(count, result))).register(registry);
        GaugeWithCallback.builder().name("diglett_acme_certificates").help("ACME certificates by state: pending,"
                        + " valid, expired (not renewed: its name went away), failed, limited")
                .labelNames("state")
                .callback(cb -> {
                    java.util.Map<String, Integer> byState = new java.util.TreeMap<>();
                    for (var state : io.diglett.server.acme.CertificateStatus.State.values()) {
                        byState.put(state.label(), 0);
                    }
                    byState.put("expired", 0);
                    java.time.Instant now = java.time.Instant.now();
                    acme.statuses().forEach(s -> byState.merge(s.state() == io.diglett.server.acme.CertificateStatus
                            .State.VALID && !now.isBefore(s.notAfter()) ? "expired" : s.state().label(), 1,
                            Integer::sum));
                    byState.forEach((state, count) -> cb.call(count, state));
                }).register(registry);
    }

    /**
     * Publishes {@code budget}'s figures: what streams hold for their sockets against the limit, streams shed by
     * reason (budget, stall, allocation), windows shrunk under pressure, client addresses with streams.
     */
    public void watch(BufferBudget budget) {
        GaugeWithCallback.builder().name("diglett_stream_buffered_bytes").unit(Unit.BYTES)
                .help("Bytes streams hold for public sockets that have not taken them yet")
                .callback(cb -> cb.call(budget.total().used())).register(registry);
        GaugeWithCallback.builder().name("diglett_stream_buffer_budget_bytes").unit(Unit.BYTES)
                .help("The buffer budget: over it, a stream whose socket is not reading is shed")
                .labelNames("scope")
                .callback(cb -> {
                    cb.call(budget.total().limit(), "total");
                    cb.call(budget.perLink(), "agent");
                    cb.call(budget.perClient(), "client");
                }).register(registry);
        CounterWithCallback.builder().name("diglett_streams_shed")
                .help("Streams reset to free memory, by reason: budget (over the buffer budget with a socket not"
                        + " reading), stall (no byte taken for the stall timeout), allocation (no memory)")
                .labelNames("reason")
                .callback(cb -> {
                    for (BufferBudget.Shed why : BufferBudget.Shed.values()) {
                        cb.call(budget.shed(why), why.label());
                    }
                }).register(registry);
        CounterWithCallback.builder().name("diglett_stream_windows_shrunk")
                .help("Credit returns that shrank a stream's window because the buffer budget was under pressure")
                .callback(cb -> cb.call(budget.windowsShrunk())).register(registry);
        GaugeWithCallback.builder().name("diglett_memory_short")
                .help("1 while the kernel's TCP socket memory is near its pressure mark: stalled streams are shed"
                        + " after 1 s")
                .callback(cb -> cb.call(budget.systemPressure() ? 1 : 0)).register(registry);
        GaugeWithCallback.builder().name("diglett_stream_clients")
                .help("Client addresses with a stream open (each has its share of the buffer budget)")
                .callback(cb -> cb.call(budget.clients())).register(registry);
    }

    /**
     * Publishes {@code diglett_agent_links} (links of the agents' sessions that take streams) and, per name and link,
     * {@code diglett_tunnel_link_streams} (streams open on each link of the name's agent).
     */
    public void watchLinks(IntSupplier links) {
        GaugeWithCallback.builder().name("diglett_agent_links")
                .help("Links of logged-in agents that carry streams (an agent may keep several)")
                .callback(cb -> cb.call(links.getAsInt())).register(registry);
        GaugeWithCallback.builder().name("diglett_tunnel_link_streams")
                .help("Streams open through each link of a name's agent (the agent's streams, all its names)")
                .labelNames("name", "link")
                .callback(cb -> tunnels.get().forEach(t -> t.links().forEach(
                        link -> cb.call(link.streams(), t.name(), Integer.toString(link.number())))))
                .register(registry);
    }

    /** Publishes the cluster's figures as this node sees them: the store's health, the nodes, names per node. */
    public void watchCluster(io.diglett.server.cluster.ClusterView cluster) {
        GaugeWithCallback.builder().name("diglett_cluster_store_up")
                .help("1 when etcd answered this node's last lease keepalive, else 0")
                .callback(cb -> cb.call(cluster.storeUp() ? 1 : 0)).register(registry);
        GaugeWithCallback.builder().name("diglett_cluster_keepalive_seconds")
                .help("How long this node's last answered lease keepalive took")
                .callback(cb -> cb.call(Math.max(0, cluster.keepAliveSeconds()))).register(registry);
        GaugeWithCallback.builder().name("diglett_cluster_store_silent_seconds")
                .help("Seconds since etcd last answered a lease keepalive of this node")
                .callback(cb -> cb.call(cluster.storeSilentSeconds())).register(registry);
        GaugeWithCallback.builder().name("diglett_cluster_watch_lag_seconds")
                .help("How long the watch took to report this node's last write (the delay with which nodes learn of a"
                        + " change)")
                .callback(cb -> cb.call(Math.max(0, cluster.watchLagSeconds()))).register(registry);
        GaugeWithCallback.builder().name("diglett_cluster_nodes").help("Live nodes of the cluster")
                .callback(cb -> cb.call(cluster.nodes().size())).register(registry);
        GaugeWithCallback.builder().name("diglett_cluster_names").help("Names held in the cluster, per holder node")
                .labelNames("node")
                .callback(cb -> {
                    java.util.Map<String, Integer> perNode = new java.util.TreeMap<>();
                    cluster.nodes().keySet().forEach(node -> perNode.put(node, 0));
                    cluster.holders().values().forEach(node -> perNode.merge(node, 1, Integer::sum));
                    perNode.forEach((node, count) -> cb.call(count, node));
                })
                .register(registry);
    }

    /** Publishes {@code diglett_pending_logins}: connections on the agent port that have not logged in yet. */
    public void watchPendingLogins(IntSupplier pending) {
        GaugeWithCallback.builder().name("diglett_pending_logins")
                .help("Connections on the agent port that have not logged in yet")
                .callback(cb -> cb.call(pending.getAsInt())).register(registry);
    }

    /** The registry behind {@code /metrics}. */
    public PrometheusRegistry registry() {
        return registry;
    }

    @Override
    public void handshakeFailed(String stage) {
        handshakeFailures.labelValues(stage).inc();
    }

    @Override
    public void refused(String reason) {
        authFailures.labelValues(reason).inc();
    }

    @Override
    public void streamOpened(double seconds) {
        streamOpenSeconds.observe(seconds);
    }

    @Override
    public void connectionRefused(String reason) {
        connectionsRefused.labelValues(reason).inc();
    }

    @Override
    public void linkJoined() {
        linksJoined.inc();
    }

    @Override
    public void idleClosed(String kind) {
        idleCloses.labelValues(kind).inc();
    }

    /**
     * Gauges of the public connections per client source (address or IPv6 /64): how many sources have some open,
     * and how many the busiest one has.
     */
    public void watchClients(IntSupplier sources, IntSupplier busiest) {
        GaugeWithCallback.builder().name("diglett_client_sources")
                .help("Client addresses (IPv6: /64 prefixes) with public connections open")
                .callback(cb -> cb.call(sources.getAsInt())).register(registry);
        GaugeWithCallback.builder().name("diglett_client_connections_max")
                .help("Public connections open from the busiest client address (see --max-connections-per-ip)")
                .callback(cb -> cb.call(busiest.getAsInt())).register(registry);
    }

    /** Public connections closed for idleness so far, of {@code kind} (ingress, tcp). */
    public double idleCloses(String kind) {
        return idleCloses.labelValues(kind).get();
    }

    /** Public connections refused so far for {@code reason}. */
    public double connectionsRefused(String reason) {
        return connectionsRefused.labelValues(reason).get();
    }

    /** The gateway answered an ingress request itself with {@code status} (404, 502, ...). */
    public void ingressAnswered(int status) {
        ingressAnswers.labelValues(Integer.toString(status)).inc();
    }

    /** Agent connections counted so far as ended before they were active for {@code reason}. */
    public double handshakeFailures(String reason) {
        return handshakeFailures.labelValues(reason).get();
    }

    /** Refusals counted so far for {@code reason}. */
    public double refusals(String reason) {
        return authFailures.labelValues(reason).get();
    }
}
