package io.diglett.server;

import io.diglett.protocol.Reasons;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exposes each name through a running Caddy's admin API: a route {@code @id} {@code diglett-NAME} that matches
 * host {@code NAME.DOMAIN} and reverse-proxies to the name's public port is inserted at the front of one HTTP
 * server's routes (so it wins over a catch-all), and deleted again on unregister. Caddy then handles
 * certificates for the name as for any other site.
 *
 * <p>The admin endpoint may be a unix socket ({@code unix//PATH}, Caddy's own spelling), which
 * {@code java.net.http} cannot reach, so requests go through {@link Http}, a small bounded HTTP/1.1 client over
 * a {@link SocketChannel}. Requests run one at a time on a thread of their own, never on an event loop: a
 * register, a stale route's replacement and an unregister never interleave. A non-2xx answer (quoted in the
 * error), an unreachable Caddy or a timeout refuses the registration and leaves no route behind.
 */
final class CaddyRegistrar implements Registrar {

    private static final Logger log = LoggerFactory.getLogger(CaddyRegistrar.class);

    /** Routes with one {@code @id} deleted at most this often when replacing stale ones. */
    private static final int MAX_STALE = 16;

    private final String domain;
    private final Admin admin;
    private final String server;
    private final String upstreamHost;
    private final Duration timeout;
    private final ExecutorService runner = Plugins.worker("diglett-registrar-caddy");

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
    }

    static String idOf(String name) {
        return "diglett-" + name;
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
    public CompletionStage<Void> register(Exposure exposure) {
        try {
            return CompletableFuture.runAsync(() -> expose(exposure), runner);
        } catch (RejectedExecutionException e) {
            return CompletableFuture.failedFuture(new IllegalStateException("the caddy registrar is closed"));
        }
    }

    @Override
    public void unregister(Exposure exposure) {
        try {
            runner.execute(() -> {
                try {
                    withdraw(exposure);
                } catch (IOException | RuntimeException e) {
                    log.warn("cannot remove Caddy route {}: {}", idOf(exposure.name()), Reasons.of(e));
                }
            });
        } catch (RejectedExecutionException e) {
            log.warn("the caddy registrar is closed: Caddy route {} stays", idOf(exposure.name()));
        }
    }

    private void expose(Exposure exposure) {
        String id = idOf(exposure.name());
        try {
            int stale = removeAll(id);
            if (stale > 0) {
                log.info("replacing {} stale Caddy route(s) {}", stale, id);
            }
            insert(route(exposure));
            log.debug("Caddy routes {}.{} to {} (route {})", exposure.name(), domain, upstreamOf(exposure.port()),
                    id);
        } catch (Http.Unreached e) {
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

    /** Inserts {@code route} first in the server's routes; an empty or missing route list is created. */
    private void insert(String route) throws IOException {
        String serverPath = "/config/apps/http/servers/" + server;
        String routes = serverPath + "/routes";
        Http.Response front = call("PUT", routes + "/0", route);
        if (front.ok()) {
            return;
        }
        // Caddy cannot insert at index 0 of an empty or missing array: find out which, or say why not.
        Http.Response list = call("GET", routes, null);
        String listed = list.ok() ? list.body().strip() : "";
        if (listed.equals("[]")) {
            check(call("POST", routes, route), "POST", routes);
            return;
        }
        if (!list.ok() || listed.equals("null")) {
            Http.Response found = call("GET", serverPath, null);
            if (!found.ok() || found.body().strip().equals("null")) {
                throw new IllegalStateException("Caddy's admin API at " + admin + " has no HTTP server '" + server
                        + "' in apps.http.servers (choose one with --registrar-option server=NAME)");
            }
            if (listed.equals("null")) {
                check(call("PUT", routes, "[" + route + "]"), "PUT", routes);
                return;
            }
        }
        check(front, "PUT", routes + "/0");
    }

    /** Deletes every route with {@code @id} {@code id}; how many there were. */
    private int removeAll(String id) throws IOException {
        for (int removed = 0; removed < MAX_STALE; removed++) {
            Http.Response deleted = call("DELETE", "/id/" + id, null);
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
        Http.Response current = call("GET", "/id/" + id, null);
        if (current.status() == 404) {
            log.debug("no Caddy route {} to remove", id);
            return;
        }
        check(current, "GET", "/id/" + id);
        if (!current.body().contains("\"dial\":" + json(upstreamOf(exposure.port())))) {
            log.debug("Caddy route {} now serves a newer registration; left in place", id);
            return;
        }
        Http.Response deleted = call("DELETE", "/id/" + id, null);
        if (deleted.status() == 404) {
            log.debug("no Caddy route {} to remove", id);
            return;
        }
        check(deleted, "DELETE", "/id/" + id);
        log.debug("removed Caddy route {}", id);
    }

    private Http.Response call(String method, String path, String body) throws IOException {
        try {
            return Http.exchange(admin.address(), admin.host(), method, path, body, timeout);
        } catch (IOException e) {
            throw Http.explained("Caddy's admin API at ", e);
        }
    }

    /** A non-2xx answer as a clear error, with what Caddy said. */
    private void check(Http.Response response, String method, String path) {
        if (!response.ok()) {
            throw new IllegalStateException("Caddy's admin API at " + admin + " answered " + method + " " + path
                    + " with " + response.status() + ": " + response.excerpt());
        }
    }

    /** {@code value} as a JSON string literal (escaped as Caddy's own Go encoder does). */
    static String json(String value) {
        return io.diglett.admin.Json.quote(value);
    }

    /** Lets queued requests (the unregisters of a shutting-down gateway) reach Caddy, for a bounded time. */
    @Override
    public void close() {
        runner.shutdown();
        try {
            if (!runner.awaitTermination(timeout.toMillis() + 1000, TimeUnit.MILLISECONDS)) {
                log.warn("Caddy's admin API at {} is slow: not waiting for its last requests", admin);
                runner.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            runner.shutdownNow();
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

    /**
     * A small blocking HTTP/1.1 client over a {@link SocketChannel}, for TCP and unix-socket endpoints alike: one
     * request per connection ({@code Connection: close}), the response read to its end, all within one deadline
     * and a size cap.
     */
    static final class Http {

        /** The most a response (head and body) may be. */
        static final int MAX_RESPONSE = 1024 * 1024 + 64 * 1024;

        private Http() {
        }

        /** A response: status and decoded body. */
        record Response(int status, String body) {
            boolean ok() {
                return status >= 200 && status < 300;
            }

            /** The body, trimmed to one short line, for error messages. */
            String excerpt() {
                String said = body.strip().replaceAll("\\s+", " ");
                return said.isEmpty() ? "(no body)" : said.length() <= 500 ? said : said.substring(0, 500) + "...";
            }
        }

        /** {@code unix//PATH} or {@code HOST:PORT}: how messages name {@code address}. */
        static String spell(SocketAddress address) {
            if (address instanceof UnixDomainSocketAddress unix) {
                return "unix/" + unix.getPath();
            }
            InetSocketAddress inet = (InetSocketAddress) address;
            String host = inet.getHostString();
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + inet.getPort();
        }

        /**
         * Sends one request ({@code body} as JSON, or none) with {@code Host: host} and reads the response, all
         * within {@code timeout}.
         *
         * @throws IOException saying where, what and why, when there is no complete HTTP answer
         */
        static Response exchange(SocketAddress address, String host, String method, String path, String body,
                                 Duration timeout) throws IOException {
            try {
                return exchange(address, host, method, path, body, System.nanoTime() + timeout.toNanos(),
                        timeout.toMillis());
            } catch (IOException e) {
                throw explained(spell(address) + ": " + method + " " + path + ": ", e);
            }
        }

        /** {@code e} with {@code context} before its message, of the same kind. */
        static IOException explained(String context, IOException e) {
            String message = context + Reasons.of(e);
            return e instanceof Unreached ? new Unreached(message, e) : new IOException(message, e);
        }

        /** The request was not sent: the endpoint could not be reached. */
        static final class Unreached extends IOException {
            private static final long serialVersionUID = 1L;

            Unreached(String message, Throwable cause) {
                super(message, cause);
            }
        }

        private static Response exchange(SocketAddress address, String host, String method, String path,
                                         String body, long deadline, long timeoutMillis) throws IOException {
            byte[] content = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
            StringBuilder head = new StringBuilder()
                    .append(method).append(' ').append(path).append(" HTTP/1.1\r\n")
                    .append("Host: ").append(host).append("\r\n")
                    .append("Accept: application/json\r\n")
                    .append("Connection: close\r\n");
            if (body != null) {
                head.append("Content-Type: application/json\r\n");
            }
            if (body != null || !method.equals("GET")) {
                head.append("Content-Length: ").append(content.length).append("\r\n");
            }
            byte[] headBytes = head.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1);
            ByteBuffer request = ByteBuffer.allocate(headBytes.length + content.length).put(headBytes).put(content)
                    .flip();
            boolean unix = address instanceof UnixDomainSocketAddress;
            if (address instanceof InetSocketAddress inet && inet.isUnresolved()) {
                address = new InetSocketAddress(inet.getHostString(), inet.getPort()); // resolves: not on a loop
            }
            try (SocketChannel channel = unix ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
                 Selector selector = Selector.open()) {
                channel.configureBlocking(false);
                SelectionKey key = channel.register(selector, 0);
                try {
                    boolean connected = channel.connect(address);
                    while (!connected) {
                        await(selector, key, SelectionKey.OP_CONNECT, deadline, timeoutMillis);
                        connected = channel.finishConnect();
                    }
                } catch (IOException e) {
                    String why = e instanceof Late ? e.getMessage() : "cannot connect (" + Reasons.of(e) + ")";
                    throw new Unreached(why, e);
                }
                while (request.hasRemaining()) {
                    if (channel.write(request) == 0) {
                        await(selector, key, SelectionKey.OP_WRITE, deadline, timeoutMillis);
                    }
                }
                ByteArrayOutputStream response = new ByteArrayOutputStream();
                ByteBuffer buffer = ByteBuffer.allocate(16 * 1024);
                for (int n; (n = channel.read(buffer.clear())) >= 0; ) {
                    if (n == 0) {
                        await(selector, key, SelectionKey.OP_READ, deadline, timeoutMillis);
                    } else if (response.size() + n > MAX_RESPONSE) {
                        throw new IOException("answer larger than " + MAX_RESPONSE + " bytes");
                    } else {
                        response.write(buffer.array(), 0, n);
                    }
                }
                return parse(response.toByteArray());
            }
        }

        /** The deadline passed. */
        private static final class Late extends IOException {
            private static final long serialVersionUID = 1L;

            Late(long timeoutMillis) {
                super("no answer within " + timeoutMillis + " ms");
            }
        }

        private static void await(Selector selector, SelectionKey key, int op, long deadline, long timeoutMillis)
                throws IOException {
            key.interestOps(op);
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (left <= 0) {
                throw new Late(timeoutMillis);
            }
            selector.select(left); // spurious wake-ups are fine: the caller tries again and comes back
            selector.selectedKeys().clear();
        }

        /** Parses a whole response: status line, headers, then a chunked, sized or read-to-the-end body. */
        static Response parse(byte[] raw) throws IOException {
            String text = new String(raw, StandardCharsets.ISO_8859_1);
            int end = text.indexOf("\r\n\r\n");
            if (end < 0) {
                throw new IOException("incomplete HTTP response (" + raw.length + " bytes)");
            }
            String[] lines = text.substring(0, end).split("\r\n");
            String[] status = lines[0].split(" ", 3);
            int code;
            try {
                code = status.length >= 2 && status[0].startsWith("HTTP/1.") ? Integer.parseInt(status[1]) : -1;
            } catch (NumberFormatException e) {
                code = -1;
            }
            if (code < 100 || code > 999) {
                throw new IOException("not an HTTP/1.1 answer: " + lines[0]);
            }
            boolean chunked = false;
            int length = -1;
            for (int i = 1; i < lines.length; i++) {
                int colon = lines[i].indexOf(':');
                if (colon <= 0) {
                    continue;
                }
                String name = lines[i].substring(0, colon).strip().toLowerCase(Locale.ROOT);
                String value = lines[i].substring(colon + 1).strip();
                if (name.equals("transfer-encoding")) {
                    chunked = value.toLowerCase(Locale.ROOT).endsWith("chunked");
                } else if (name.equals("content-length")) {
                    try {
                        length = Integer.parseInt(value);
                    } catch (NumberFormatException e) {
                        throw new IOException("bad Content-Length: " + value);
                    }
                }
            }
            int start = end + 4;
            byte[] body;
            if (chunked) {
                body = dechunk(raw, start);
            } else if (length >= 0) {
                if (raw.length - start < length) {
                    throw new IOException("connection closed after " + (raw.length - start) + " of " + length
                            + " body bytes");
                }
                body = Arrays.copyOfRange(raw, start, start + length);
            } else {
                body = Arrays.copyOfRange(raw, start, raw.length);
            }
            return new Response(code, new String(body, StandardCharsets.UTF_8));
        }

        /** The body of a chunked message starting at {@code at}; trailers are ignored. */
        private static byte[] dechunk(byte[] raw, int at) throws IOException {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            while (true) {
                int lineEnd = indexOfCrlf(raw, at);
                if (lineEnd < 0) {
                    throw new IOException("truncated chunked body");
                }
                String sizeLine = new String(raw, at, lineEnd - at, StandardCharsets.ISO_8859_1);
                int semicolon = sizeLine.indexOf(';');
                int size;
                try {
                    size = Integer.parseInt((semicolon < 0 ? sizeLine : sizeLine.substring(0, semicolon)).strip(),
                            16);
                } catch (NumberFormatException e) {
                    throw new IOException("bad chunk size: " + sizeLine);
                }
                at = lineEnd + 2;
                if (size == 0) {
                    return body.toByteArray();
                }
                if (size < 0 || raw.length - at < size) {
                    throw new IOException("truncated chunked body");
                }
                body.write(raw, at, size);
                at += size + 2; // the chunk's CRLF
            }
        }

        private static int indexOfCrlf(byte[] raw, int from) {
            for (int i = from; i + 1 < raw.length; i++) {
                if (raw[i] == '\r' && raw[i + 1] == '\n') {
                    return i;
                }
            }
            return -1;
        }
    }
}
