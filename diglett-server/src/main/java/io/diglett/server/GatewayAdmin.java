package io.diglett.server;

import io.diglett.admin.AdminServer;
import io.diglett.admin.Json;
import io.diglett.common.HostPort;
import io.diglett.common.Version;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;

/**
 * The gateway's admin endpoint ({@code --admin}): {@code /metrics}, {@code /api/tunnels} (the live names with
 * their figures), {@code /api/gateway} (a summary) and the dashboard at {@code /}, bundled in the jar.
 */
final class GatewayAdmin implements AutoCloseable {

    static final String DASHBOARD = "/io/diglett/server/dashboard";

    private final Gateway gateway;
    private final AdminServer server;
    private final Instant started;

    GatewayAdmin(Gateway gateway, String token) {
        this.gateway = gateway;
        this.started = gateway.clock.instant();
        this.server = new AdminServer(gateway.metricsRegistry(), token)
                .route("/api/tunnels", () -> AdminServer.Response.json(tunnels()))
                .route("/api/gateway", () -> AdminServer.Response.json(summary()))
                .staticFiles(DASHBOARD);
    }

    InetSocketAddress start(HostPort at) throws InterruptedException {
        return server.start(at);
    }

    /** A JSON array: one object per live name. */
    String tunnels() {
        Json json = new Json().beginArray();
        for (Tunnel t : gateway.names().live()) {
            Registrar.Exposure exposure = t.exposure;
            json.beginObject()
                    .name("name").value(t.name)
                    .name("agent").value(exposure == null ? null : exposure.agent())
                    .name("principal").value(exposure == null ? null : exposure.principal())
                    .name("port").value(t.port)
                    .name("urls").beginArray();
            for (String url : gateway.urls(t)) {
                json.value(url);
            }
            json.endArray()
                    .name("tlsPassthrough").value(t.tlsPassthrough)
                    .name("since").value(t.since == null ? null : t.since.toString())
                    .name("streams").value(t.stats.open.get())
                    .name("connections").value(t.stats.connections.sum())
                    .name("bytesIn").value(t.stats.bytesIn.sum())
                    .name("bytesOut").value(t.stats.bytesOut.sum())
                    .endObject();
        }
        return json.endArray().toString();
    }

    String summary() {
        Instant now = gateway.clock.instant();
        return new Json().beginObject()
                .name("version").value(Version.describe("diglett-server"))
                .name("fingerprint").value(gateway.fingerprint() == null ? null : gateway.fingerprint().toString())
                .name("domain").value(gateway.config().ingress().domain())
                .name("agents").value(gateway.agents())
                .name("tunnels").value(gateway.names().live().size())
                .name("started").value(started.toString())
                .name("uptimeSeconds").value(Duration.between(started, now).toSeconds())
                .name("time").value(now.toString())
                .endObject().toString();
    }

    @Override
    public void close() {
        server.close();
    }
}
