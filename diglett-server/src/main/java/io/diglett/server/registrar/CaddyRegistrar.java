package io.diglett.server.registrar;

import io.diglett.admin.JsonReader;
import io.diglett.protocol.Printable;
import io.diglett.protocol.Reasons;
import io.diglett.common.transport.Transport;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exposes each name through a running Caddy's admin API: a route {@code @id} {@code diglett-NAME} that matches
 * host {@code NAME.DOMAIN} and reverse-proxies to the name's public port is inserted into one HTTP server's
 * routes before the operator's first catch-all route (no host matcher, or a wildcard or placeholder host), so
 * it wins over that but never over an exact site of the operator's, and deleted again on unregister. A name
 * whose host one of the operator's routes matches exactly, also a route nested in a {@code subroute}, is refused
 * for good ({@link NameRefusedException}). Caddy then handles certificates for the name as for any other site.
 * At start ({@link #reconcile}) the routes {@code diglett-*} an earlier run left are deleted, retried until Caddy
 * answers.
 *
 * <p>The admin endpoint may be a unix socket ({@code unix//PATH}, Caddy's own spelling), which
 * {@code java.net.http} cannot reach, so requests go through an {@link AdminHttpClient} (Netty's HTTP codec, over
 * TCP or a unix socket). Requests run one at a time on a thread of their own, never on an event loop, each name's in the
 * order they were asked for: a register, a stale route's replacement and an unregister never interleave, and the
 * unregister of a name registered again meanwhile (by a newer link) leaves the newer route alone (see
 * {@link RegistrarWorker}). A non-2xx answer (quoted in the error, which goes to the gateway's log only), an
 * unreachable Caddy or a timeout refuses the registration for now and leaves no route behind.
 */
public final class CaddyRegistrar implements Registrar {

    private static final Logger log = LoggerFactory.getLogger(CaddyRegistrar.class);

    /** How the {@code @id} of every route this registrar adds begins, the name following. */
    static final String ID_PREFIX = "diglett-";

    /** Routes with one {@code @id} deleted at most this often when replacing stale ones. */
    private static final int MAX_STALE = 16;

    private final String domain;
    private final Admin admin;
    private final String server;
    private final String upstreamHost;
    private final Duration timeout;
    private final RegistrarWorker worker = new RegistrarWorker("caddy", log, 1);
    private final AdminHttpClient http;

    CaddyRegistrar(String domain, String admin, String server, String upstreamHost, Duration timeout) {
        if (!domain.matches("[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")) {
            throw new IllegalArgumentException("caddy domain '" + domain + "': expected a DNS name like"
                    + " gateway.example.com");
        }
        if (!server.matches("[A-Za-z0-9_.-]+")) {
            throw new IllegalArgumentException("caddy server '" + server + "': expected a server name from Caddy's"
                    + " apps.http.servers, like srv0");
        }
        this.domain = domain;
        this.admin = Admin.parse(admin);
        this.server = server;
        this.upstreamHost = upstreamHost;
        this.timeout = timeout;
        this.http = new AdminHttpClient(Transport.best(), "diglett-registrar-caddy-io"); // last: options were fine
    }

    static String idOf(String name) {
        return ID_PREFIX + name;
    }

    /** Where Caddy proxies {@code port} to: {@code HOST:PORT}, an IPv6 host in brackets. */
    String upstreamOf(int port) {
        String host = upstreamHost.contains(":") && !upstreamHost.startsWith("[") ? "[" + upstreamHost + "]"
                : upstreamHost;
        return host + ":" + port;
    }

    /** The route for one name, in Caddy's JSON config schema ({@code apps.http.servers.*.routes[]}). */
    String route(Exposure exposure) {
        return "{\"@id\":" + json(idOf(exposure.name()))
                + ",\"match\":[{\"host\":[" + json(exposure.name() + "." + domain) + "]}]"
                + ",\"handle\":[{\"handler\":\"reverse_proxy\",\"upstreams\":[{\"dial\":"
                + json(upstreamOf(exposure.port())) + "}]}]"
                + ",\"terminal\":true}";
    }

    @Override
    public boolean routesToPorts() {
        return true; // its routes point at 127.0.0.1:PORT
    }

    @Override
    public CompletionStage<Void> register(Exposure exposure) {
        return worker.register(exposure, () -> expose(exposure));
    }

    @Override
    public void unregister(Exposure exposure) {
        worker.unregister(exposure, () -> {
            try {
                withdraw(exposure);
            } catch (IOException | RuntimeException e) {
                log.warn("cannot remove Caddy route {}: {}", idOf(exposure.name()), Reasons.of(e));
            }
        });
    }

    private void expose(Exposure exposure) {
        String id = idOf(exposure.name());
        try {
            int stale = removeAll(id);
            if (stale > 0) {
                log.info("replacing {} stale Caddy route(s) {}", stale, id);
            }
            List<Object> routes = routes();
            insert(route(exposure), routes, placeFor(exposure.name() + "." + domain, routes));
            log.debug("Caddy routes {}.{} to {} (route {})", exposure.name(), domain, upstreamOf(exposure.port()),
                    id);
        } catch (AdminHttpClient.Unreached e) {
            throw new IllegalStateException(Reasons.of(e), e); // nothing was sent
        } catch (IOException e) {
            // No answer: Caddy may have applied the request all the same. Nothing may stay half-exposed.
            try {
                removeAll(id);
            } catch (IOException | RuntimeException again) {
                log.warn("cannot remove Caddy route {} after a failed registration: {}", id, Reasons.of(again));
            }
            throw new IllegalStateException(Reasons.of(e), e);
        }
    }

    /** The server's routes, or {@code null} when it has no route list (or is not there: {@link #insert} says). */
    private List<Object> routes() throws IOException {
        String path = "/config/apps/http/servers/" + server + "/routes";
        AdminHttpClient.Response list = call("GET", path, null);
        if (!list.ok()) {
            return null;
        }
        Object parsed;
        try {
            parsed = JsonReader.parse(list.body());
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("Caddy's admin API at " + admin + " answered GET " + path
                    + " with something that is not JSON: " + e.getMessage(), e);
        }
        if (parsed == null) {
            return null;
        }
        if (!(parsed instanceof List<?> items)) {
            throw new IllegalStateException("Caddy's admin API at " + admin + " answered GET " + path
                    + " with something that is not a route list");
        }
        return new ArrayList<>(items);
    }

    /**
     * Where a route for {@code host} goes: before the first of the operator's routes that is a catch-all (it
     * matches hosts by a wildcard or a placeholder, or some of its matcher sets name no host), so that it wins
     * over those but never comes after a catch-all, and never takes an exact site of the operator's; refused when
     * one of the operator's routes, or a route nested in one ({@code subroute} handlers, as a Caddyfile's
     * {@code handle} blocks compile to), matches {@code host} exactly.
     */
    private int placeFor(String host, List<Object> routes) {
        int place = -1;
        for (int i = 0; routes != null && i < routes.size(); i++) {
            if (!(routes.get(i) instanceof Map<?, ?> route) || isOurs(route)) {
                continue;
            }
            String matched = servedBy(route, host, 0);
            if (matched != null) {
                log.warn("refusing {}: route {} of Caddy server '{}' serves host '{}' already", host, i, server,
                        Printable.of(matched));
                throw new NameRefusedException("'" + host + "' is a site of the operator's own configuration");
            }
            if (place < 0 && isCatchAll(route)) {
                place = i;
            }
        }
        return place >= 0 ? place : routes == null ? 0 : routes.size();
    }

    /** Whether {@code route} is one of the routes this registrar adds (its {@code @id} is {@code diglett-...}). */
    private static boolean isOurs(Map<?, ?> route) {
        return route.get("@id") instanceof String id && id.startsWith(ID_PREFIX);
    }

    /** How deep {@link #servedBy} looks into {@code subroute} handlers nested in one another. */
    static final int MAX_NESTING = 16;

    /**
     * The host matcher of {@code route}, or of a route nested in it, that matches {@code host} exactly, or
     * {@code null}: nested routes are the {@code routes[]} of its {@code subroute} handlers, to {@link #MAX_NESTING}
     * levels.
     */
    static String servedBy(Map<?, ?> route, String host, int depth) {
        for (String pattern : hostsOf(route)) {
            if (isExact(pattern) && sameHost(pattern, host)) {
                return pattern;
            }
        }
        if (depth >= MAX_NESTING || !(route.get("handle") instanceof List<?> handlers)) {
            return null;
        }
        for (Object handler : handlers) {
            if (handler instanceof Map<?, ?> map && "subroute".equals(map.get("handler"))
                    && map.get("routes") instanceof List<?> nested) {
                for (Object inner : nested) {
                    String matched = inner instanceof Map<?, ?> innerRoute ? servedBy(innerRoute, host, depth + 1)
                            : null;
                    if (matched != null) {
                        return matched;
                    }
                }
            }
        }
        return null;
    }

    /**
     * Whether {@code route} may match any host: it has no matcher sets, one of them has no host matcher, or one of
     * its hosts is a wildcard ({@code *.example.com}) or a placeholder ({@code {...}}).
     */
    static boolean isCatchAll(Map<?, ?> route) {
        if (!(route.get("match") instanceof List<?> sets) || sets.isEmpty()) {
            return true;
        }
        for (Object set : sets) {
            if (!(set instanceof Map<?, ?> matchers) || !(matchers.get("host") instanceof List<?> names)) {
                return true;
            }
            for (Object name : names) {
                if (!(name instanceof String spelled) || !isExact(spelled)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The hosts the matcher sets of {@code route} name ({@code match[].host[]}). */
    static List<String> hostsOf(Map<?, ?> route) {
        List<String> hosts = new ArrayList<>();
        if (route.get("match") instanceof List<?> sets) {
            for (Object set : sets) {
                if (set instanceof Map<?, ?> matchers && matchers.get("host") instanceof List<?> names) {
                    for (Object name : names) {
                        if (name instanceof String spelled) {
                            hosts.add(spelled);
                        }
                    }
                }
            }
        }
        return hosts;
    }

    /** Whether Caddy's host matcher {@code pattern} names one host: no wildcard, no placeholder. */
    static boolean isExact(String pattern) {
        return !pattern.contains("*") && !pattern.contains("{");
    }

    /** Whether two host names are the same: ignoring case and a trailing dot. */
    static boolean sameHost(String a, String b) {
        return withoutTrailingDot(a).equalsIgnoreCase(withoutTrailingDot(b));
    }

    private static String withoutTrailingDot(String host) {
        return host.endsWith(".") ? host.substring(0, host.length() - 1) : host;
    }

    /**
     * Deletes the routes of names not in {@code live} that this registrar added ({@code @id}
     * {@code diglett-NAME}): what a gateway killed before it could withdraw its names left behind, proxying to
     * ports that other names may get now. The operator's routes stay.
     */
    @Override
    public void reconcile(Set<String> live) {
        worker.cleanUp("remove stale Caddy routes", () -> {
            Set<String> stale = new TreeSet<>();
            List<Object> routes = routes();
            for (Object route : routes == null ? List.of() : routes) {
                if (route instanceof Map<?, ?> map && isOurs(map)) {
                    String id = (String) map.get("@id");
                    if (!live.contains(id.substring(ID_PREFIX.length()))) {
                        stale.add(id);
                    }
                }
            }
            for (String id : stale) {
                removeAll(id);
                log.info("removed Caddy route {}, left by an earlier run: '{}' is not live", Printable.of(id),
                        Printable.of(id.substring(ID_PREFIX.length())));
            }
        });
    }

    /**
     * Inserts {@code route} at {@code place} in the server's {@code routes} (appends at their end); a missing
     * route list is created.
     */
    private void insert(String route, List<Object> routes, int place) throws IOException {
        String serverPath = "/config/apps/http/servers/" + server;
        String path = serverPath + "/routes";
        if (routes == null) {
            AdminHttpClient.Response found = call("GET", serverPath, null);
            if (!found.ok() || found.body().strip().equals("null")) {
                throw new IllegalStateException("Caddy's admin API at " + admin + " has no HTTP server '" + server
                        + "' in apps.http.servers (choose one with --registrar-option server=NAME)");
            }
            check(call("PUT", path, "[" + route + "]"), "PUT", path);
        } else if (place < routes.size()) {
            check(call("PUT", path + "/" + place, route), "PUT", path + "/" + place);
        } else {
            check(call("POST", path, route), "POST", path); // appended
        }
    }

    /** Deletes every route with {@code @id} {@code id}; how many there were. */
    private int removeAll(String id) throws IOException {
        for (int removed = 0; removed < MAX_STALE; removed++) {
            AdminHttpClient.Response deleted = call("DELETE", "/id/" + id, null);
            if (deleted.status() == 404) {
                return removed;
            }
            check(deleted, "DELETE", "/id/" + id);
        }
        throw new IllegalStateException("Caddy's admin API at " + admin + " still has routes " + id
                + " after deleting " + MAX_STALE);
    }

    /** Deletes the name's route, unless it now proxies to another port (a newer registration of the name). */
    private void withdraw(Exposure exposure) throws IOException {
        String id = idOf(exposure.name());
        AdminHttpClient.Response current = call("GET", "/id/" + id, null);
        if (current.status() == 404) {
            log.debug("no Caddy route {} to remove", id);
            return;
        }
        check(current, "GET", "/id/" + id);
        if (!current.body().contains("\"dial\":" + json(upstreamOf(exposure.port())))) {
            log.debug("Caddy route {} now serves a newer registration; left in place", id);
            return;
        }
        AdminHttpClient.Response deleted = call("DELETE", "/id/" + id, null);
        if (deleted.status() == 404) {
            log.debug("no Caddy route {} to remove", id);
            return;
        }
        check(deleted, "DELETE", "/id/" + id);
        log.debug("removed Caddy route {}", id);
    }

    private AdminHttpClient.Response call(String method, String path, String body) throws IOException {
        try {
            return http.exchange(admin.address(), admin.host(), method, path, body, timeout);
        } catch (IOException e) {
            throw AdminHttpClient.explained("Caddy's admin API at ", e);
        }
    }

    /** A non-2xx answer as a clear error, with what Caddy said. */
    private void check(AdminHttpClient.Response response, String method, String path) {
        if (!response.ok()) {
            throw new IllegalStateException("Caddy's admin API at " + admin + " answered " + method + " " + path
                    + " with " + response.status() + ": " + response.excerpt());
        }
    }

    /** {@code value} as a JSON string literal (escaped as Caddy's own Go encoder does). */
    public static String json(String value) {
        return io.diglett.admin.Json.quote(value);
    }

    /** Lets queued requests (the unregisters of a shutting-down gateway) reach Caddy, for a bounded time. */
    @Override
    public void close() {
        try {
            worker.close(timeout.plusSeconds(1));
        } finally {
            http.close();
        }
    }

    /** Caddy's admin endpoint: {@code HOST:PORT} or {@code unix//PATH}, and the Host header it accepts. */
    record Admin(String spelled, SocketAddress address, String host) {

        static Admin parse(String spelled) {
            if (spelled.startsWith("unix/")) {
                String path = spelled.substring("unix/".length());
                if (path.isEmpty()) {
                    throw new IllegalArgumentException("caddy admin '" + spelled + "': no socket path");
                }
                // Caddy allows only an empty Host on a unix socket (RFC 7230: no host name to give).
                return new Admin(spelled, UnixDomainSocketAddress.of(path), "");
            }
            int colon = spelled.lastIndexOf(':');
            String host = colon > 0 ? spelled.substring(0, colon) : "";
            int port;
            try {
                port = Integer.parseInt(spelled.substring(colon + 1));
            } catch (NumberFormatException e) {
                port = -1;
            }
            if (host.isEmpty() || port < 1 || port > 65535) {
                throw new IllegalArgumentException("caddy admin '" + spelled
                        + "': expected HOST:PORT (e.g. localhost:2019) or unix//PATH");
            }
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            // Resolved when connecting, on the registrar's thread; Caddy checks Host against its listen address.
            return new Admin(spelled, InetSocketAddress.createUnresolved(host, port), spelled);
        }

        @Override
        public String toString() {
            return spelled;
        }
    }
}
