package io.diglett.agent;

import io.diglett.admin.AdminServer;
import io.diglett.admin.Json;
import io.diglett.common.HostPort;
import io.diglett.common.Version;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.net.InetSocketAddress;

/**
 * The agent's admin endpoint ({@code --admin}): {@code /metrics} (Prometheus, names under
 * {@code diglett_agent_}) and {@code /api/status}, the JSON of {@link AgentStatus}.
 */
final class AgentAdmin implements AutoCloseable {

    private final AgentStatus status;
    private final AdminServer server;

    AgentAdmin(AgentStatus status, String token, java.util.List<String> hosts) {
        this.status = status;
        this.server = new AdminServer(registry(status), token).hosts(hosts)
                .route("/api/status", () -> AdminServer.Response.json(json(status)));
    }

    InetSocketAddress start(HostPort at) throws InterruptedException {
        return server.start(at);
    }

    static PrometheusRegistry registry(AgentStatus status) {
        PrometheusRegistry registry = new PrometheusRegistry();
        GaugeWithCallback.builder().name("diglett_agent_online").help("1 while the tunnels are live, else 0")
                .callback(cb -> cb.call(status.state() == AgentStatus.State.ONLINE ? 1 : 0)).register(registry);
        GaugeWithCallback.builder().name("diglett_agent_links_online").help("Links to the gateway carrying streams")
                .callback(cb -> cb.call(status.linksOnline())).register(registry);
        GaugeWithCallback.builder().name("diglett_agent_link_streams").help("Streams open per link (1 to --links)")
                .labelNames("link")
                .callback(cb -> status.links().forEach(l -> cb.call(l.open(), Integer.toString(l.slot()))))
                .register(registry);
        CounterWithCallback.builder().name("diglett_agent_reconnects").help("Links made again after a loss")
                .callback(cb -> cb.call(status.reconnects())).register(registry);
        GaugeWithCallback.builder().name("diglett_agent_streams_open").help("Streams open per name")
                .labelNames("name")
                .callback(cb -> status.tunnels().forEach(t -> cb.call(t.open(), t.name()))).register(registry);
        CounterWithCallback.builder().name("diglett_agent_connections").help("Public connections carried per name")
                .labelNames("name")
                .callback(cb -> status.tunnels().forEach(t -> cb.call(t.connections(), t.name())))
                .register(registry);
        CounterWithCallback.builder().name("diglett_agent_backend_failures")
                .help("Connections the backend refused or did not answer, per name").labelNames("name")
                .callback(cb -> status.tunnels().forEach(t -> cb.call(t.backendFailures(), t.name())))
                .register(registry);
        CounterWithCallback.builder().name("diglett_agent_tunnel_bytes").unit(Unit.BYTES)
                .help("Bytes per name: in = from public clients to the backend, out = back to clients")
                .labelNames("name", "direction")
                .callback(cb -> status.tunnels().forEach(t -> {
                    cb.call(t.bytesIn(), t.name(), "in");
                    cb.call(t.bytesOut(), t.name(), "out");
                })).register(registry);
        JvmMetrics.builder().register(registry);
        return registry;
    }

    static String json(AgentStatus status) {
        Json json = new Json().beginObject()
                .name("version").value(Version.describe("diglett"))
                .name("state").value(status.state().name().toLowerCase(java.util.Locale.ROOT))
                .name("since").value(status.stateSince().toString())
                .name("gateway").value(status.gateway())
                .name("fingerprint").value(status.fingerprint())
                .name("reconnects").value(status.reconnects())
                .name("nextAttempt").value(status.nextAttempt() == null ? null : status.nextAttempt().toString())
                .name("lastError").value(status.lastError())
                .name("lastErrorAt").value(status.lastErrorAt() == null ? null : status.lastErrorAt().toString())
                .name("links").beginArray();
        for (AgentStatus.Link link : status.links()) {
            json.beginObject().name("link").value(link.slot()).name("number").value(link.number())
                    .name("state").value(link.state().name().toLowerCase(java.util.Locale.ROOT))
                    .name("streams").value(link.open()).endObject();
        }
        json.endArray()
                .name("tunnels").beginArray();
        for (AgentStatus.Tunnel t : status.tunnels()) {
            Registration r = t.registration();
            json.beginObject().name("name").value(t.name()).name("backend").value(t.backend())
                    .name("publicPort").value(r == null ? 0 : r.publicPort()).name("urls").beginArray();
            if (r != null) {
                r.urls().forEach(json::value);
            }
            json.endArray().name("streams").value(t.open()).name("connections").value(t.connections())
                    .name("backendFailures").value(t.backendFailures())
                    .name("certificate").value(t.certificate())
                    .name("bytesIn").value(t.bytesIn()).name("bytesOut").value(t.bytesOut()).endObject();
        }
        json.endArray().name("recent").beginArray();
        for (AgentStatus.Connection c : status.recent()) {
            json.beginObject().name("at").value(c.at().toString()).name("name").value(c.name())
                    .name("client").value(c.client()).name("millis").value(c.duration().toMillis())
                    .name("bytesIn").value(c.bytesIn()).name("bytesOut").value(c.bytesOut())
                    .name("result").value(c.result()).endObject();
        }
        return json.endArray().endObject().toString();
    }

    @Override
    public void close() {
        server.close();
    }
}
