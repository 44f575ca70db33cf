package io.diglett.server.admin;

import io.diglett.server.acme.CertificateStatus;
import io.diglett.admin.AdminServer;
import io.diglett.admin.Json;
import io.diglett.common.transport.Fingerprint;
import io.diglett.common.HostPort;
import io.diglett.common.Version;
import io.diglett.server.link.NameRegistry;
import io.diglett.server.link.Tunnel;
import io.diglett.server.registrar.Registrar;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.Function;

/**
 * The gateway's admin endpoint ({@code --admin}): {@code /metrics}, {@code /api/tunnels} (the live names with
 * their figures), {@code /api/gateway} (a summary) and the dashboard at {@code /}, bundled in the jar.
 */
public final class GatewayAdmin implements AutoCloseable {

    static final String DASHBOARD = "/io/diglett/server/admin/dashboard";

    /** What the summary tells about the gateway. */
    public interface Facts {
        /** The agent link's certificate fingerprint, or {@code null} without TLS. */
        Fingerprint fingerprint();

        /** The ingress domain, or {@code null}. */
        String domain();

        /** Agents connected now. */
        int agents();

        /** What this node knows of its cluster, or {@code null} for a single gateway. */
        default io.diglett.server.cluster.ClusterView cluster() {
            return null;
        }

        /** Where {@code name}'s ACME certificate stands, or {@code null} without ACME. */
        default CertificateStatus certificate(String name) {
            return null;
        }
    }

    private final NameRegistry names;
    private final Function<Tunnel, List<String>> urls;
    private final Facts facts;
    private final Clock clock;
    private final AdminServer server;
    private final Instant started;

    public GatewayAdmin(GatewayMetrics metrics, NameRegistry names, Function<Tunnel, List<String>> urls, Facts facts,
                        Clock clock, String token, List<String> hosts) {
        this.names = names;
        this.urls = urls;
        this.facts = facts;
        this.clock = clock;
        this.started = clock.instant();
        this.server = new AdminServer(metrics.registry(), token).hosts(hosts)
                .route("/api/tunnels", () -> AdminServer.Response.json(tunnels()))
                .route("/api/gateway", () -> AdminServer.Response.json(summary()))
                .staticFiles(DASHBOARD);
    }

    public InetSocketAddress start(HostPort at) throws InterruptedException {
        return server.start(at);
    }

    /** {@code "certificate": {state, notAfter, renewAt, detail, retryAt}}, or null without ACME. */
    private static void certificate(Json json, CertificateStatus status) {
        json.name("certificate");
        if (status == null) {
            json.value((String) null);
            return;
        }
        json.beginObject()
                .name("subject").value(status.subject())
                .name("state").value(status.state().label())
                .name("notAfter").value(status.notAfter() == null ? null : status.notAfter().toString())
                .name("renewAt").value(status.renewAt() == null ? null : status.renewAt().toString())
                .name("detail").value(status.detail())
                .name("retryAt").value(status.retryAt() == null ? null : status.retryAt().toString())
                .endObject();
    }

    /**
     * {@code "policy": {allow, deny, rateLimit, setRequestHeaders, removeRequestHeaders, setResponseHeaders, login,
     * ..., allowed, denied, limited}}: the rules in force and their decisions.
     */
    private static void policy(Json json, io.diglett.server.link.VisitorPolicy visitors) {
        io.diglett.protocol.Policy policy = visitors.policy();
        json.name("policy").beginObject().name("allow").beginArray();
        policy.allow().forEach(block -> json.value(block.toString()));
        json.endArray().name("deny").beginArray();
        policy.deny().forEach(block -> json.value(block.toString()));
        json.endArray()
                .name("rateLimit").value(policy.rateLimit())
                .name("setRequestHeaders").beginArray(); // names only: a value may be a secret (an API key)
        policy.setRequestHeaders().forEach(header -> json.value(header.name()));
        json.endArray().name("removeRequestHeaders").beginArray();
        policy.removeRequestHeaders().forEach(json::value);
        json.endArray().name("setResponseHeaders").beginArray();
        policy.setResponseHeaders().forEach(header -> json.value(header.name()));
        json.endArray();
        // how visitors log in, and who may: never a password hash or a client secret
        if (!policy.basicAuth().isEmpty()) {
            json.name("login").value("basic").name("users").beginArray();
            policy.basicAuth().forEach(user -> json.value(user.user()));
            json.endArray();
        } else if (policy.jwt() != null) {
            json.name("login").value("jwt").name("jwks").value(policy.jwt().jwks())
                    .name("issuer").value(policy.jwt().issuer()).name("audience").value(policy.jwt().audience());
        } else if (policy.oidc() != null) {
            json.name("login").value("oidc").name("issuer").value(policy.oidc().issuer())
                    .name("clientId").value(policy.oidc().clientId()).name("accounts").beginArray();
            policy.oidc().allow().forEach(json::value);
            json.endArray();
        } else {
            json.name("login").value(null);
        }
        json.name("allowed").value(visitors.allowed())
                .name("denied").value(visitors.denied())
                .name("limited").value(visitors.limited())
                .name("unauthenticated").value(visitors.unauthenticated())
                .endObject();
    }

    /** A JSON array: one object per live name. */
    String tunnels() {
        Json json = new Json().beginArray();
        for (Tunnel t : names.live()) {
            Registrar.Exposure exposure = t.exposure();
            Instant since = t.since();
            json.beginObject()
                    .name("name").value(t.name())
                    .name("agent").value(exposure == null ? null : exposure.agent())
                    .name("principal").value(exposure == null ? null : exposure.principal())
                    .name("port").value(t.port())
                    .name("urls").beginArray();
            for (String url : urls.apply(t)) {
                json.value(url);
            }
            json.endArray()
                    .name("tlsPassthrough").value(t.tlsPassthrough());
            certificate(json, facts.certificate(t.name()));
            policy(json, t.visitors());
            json
                    .name("node").value(facts.cluster() == null ? null : facts.cluster().node())
                    .name("since").value(since == null ? null : since.toString())
                    .name("streams").value(t.stats().open())
                    .name("connections").value(t.stats().connections())
                    .name("bytesIn").value(t.stats().bytesIn())
                    .name("bytesOut").value(t.stats().bytesOut())
                    .name("links").beginArray();
            for (Tunnel.LinkFigures link : t.links()) {
                json.beginObject()
                        .name("link").value(link.number())
                        .name("agent").value(link.agent())
                        .name("streams").value(link.streams())
                        .endObject();
            }
            json.endArray().endObject();
        }
        return json.endArray().toString();
    }

    String summary() {
        Instant now = clock.instant();
        Fingerprint fingerprint = facts.fingerprint();
        Json json = new Json().beginObject()
                .name("version").value(Version.describe("diglett-server"))
                .name("fingerprint").value(fingerprint == null ? null : fingerprint.toString())
                .name("domain").value(facts.domain())
                .name("agents").value(facts.agents())
                .name("tunnels").value(names.live().size())
                .name("started").value(started.toString())
                .name("uptimeSeconds").value(Duration.between(started, now).toSeconds())
                .name("time").value(now.toString());
        io.diglett.server.cluster.ClusterView cluster = facts.cluster();
        if (cluster != null) {
            json.name("cluster").beginObject()
                    .name("node").value(cluster.node())
                    .name("storeUp").value(cluster.storeUp())
                    .name("partitioned").value(cluster.partitioned())
                    .name("keepaliveSeconds").value(cluster.keepAliveSeconds())
                    .name("storeSilentSeconds").value(cluster.storeSilentSeconds())
                    .name("watchLagSeconds").value(cluster.watchLagSeconds())
                    .name("nodes").beginArray();
            java.util.Map<String, String> forwarding = cluster.forwarding();
            cluster.nodes().forEach((node, listen) -> json.beginObject()
                    .name("node").value(node).name("listen").value(listen)
                    .name("forward").value(forwarding.get(node)).endObject());
            json.endArray().name("holders").beginObject();
            cluster.holders().forEach((name, node) -> json.name(name).value(node));
            json.endObject().endObject();
        }
        return json.endObject().toString();
    }

    @Override
    public void close() {
        server.close();
    }
}
