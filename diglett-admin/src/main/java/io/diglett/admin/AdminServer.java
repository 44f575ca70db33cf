package io.diglett.admin;

import io.diglett.common.HostPort;
import io.diglett.common.transport.EventLoops;
import io.diglett.common.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.NetUtil;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin endpoint of the gateway and the agent ({@code --admin HOST:PORT}): {@code /metrics} in the
 * Prometheus text format, JSON routes of the program's own, and static files bundled in the jar (the
 * dashboard: no CDN, so it works on an air-gapped host). Read-only: GET and HEAD. With a token, every request
 * for data needs {@code Authorization: Bearer TOKEN}, and only that (a token in the address would reach logs
 * and browser history); the bundled files themselves are served to anyone.
 *
 * <p>Hardened for a port a browser can reach: it refuses to bind beyond loopback without a token, and answers
 * only requests whose Host is its own address (an IP literal of it, {@code localhost} when it listens there) or
 * a name given with {@link #hosts}, so a page whose DNS name is rebound to this address (DNS rebinding) gets
 * nothing. Runs on its own single thread, so a slow scrape never delays a tunnel.
 */
public final class AdminServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AdminServer.class);

    /** An answer: status, content type, body. */
    public record Response(int status, String contentType, byte[] body) {
        public static Response json(String json) {
            return new Response(200, "application/json; charset=utf-8", json.getBytes(StandardCharsets.UTF_8));
        }
    }

    private static final Map<String, String> TYPES = Map.of("html", "text/html; charset=utf-8",
            "js", "text/javascript; charset=utf-8", "css", "text/css; charset=utf-8", "svg", "image/svg+xml",
            "png", "image/png", "ico", "image/x-icon", "json", "application/json; charset=utf-8");

    private final PrometheusRegistry registry;
    private final byte[] token;
    private final Map<String, Supplier<Response>> routes = new LinkedHashMap<>();
    /** Host names (lower case, no trailing dot) answered besides the endpoint's own addresses. */
    private final Set<String> hosts = new HashSet<>();
    /** The bound address; set by {@link #start}. */
    private volatile InetAddress bound;
    private String staticRoot;
    private EventLoopGroup group;
    private Channel listener;

    /**
     * @param registry the metrics {@code /metrics} exposes
     * @param token    the bearer token every request must carry, or {@code null} for none
     */
    public AdminServer(PrometheusRegistry registry, String token) {
        this.registry = registry;
        this.token = token == null || token.isEmpty() ? null : token.getBytes(StandardCharsets.UTF_8);
    }

    /** Answers GET {@code path} (exact match) with what {@code handler} returns at that moment. */
    public AdminServer route(String path, Supplier<Response> handler) {
        routes.put(path, handler);
        return this;
    }

    /**
     * Also answers requests whose Host header is one of {@code names} (for a reverse proxy or a DNS name in
     * front of the endpoint, {@code --admin-host}); its own addresses are always answered.
     */
    public AdminServer hosts(Collection<String> names) {
        for (String name : names) {
            hosts.add(normalizeHost(name));
        }
        return this;
    }

    /** Serves the class-path directory {@code root} (e.g. {@code /io/diglett/server/dashboard}) at {@code /}. */
    public AdminServer staticFiles(String root) {
        this.staticRoot = root.endsWith("/") ? root.substring(0, root.length() - 1) : root;
        return this;
    }

    /** Binds {@code at} and returns the bound address (useful with port 0). */
    public InetSocketAddress start(HostPort at) throws InterruptedException {
        requireTokenBeyondLoopback(at, token != null);
        Transport transport = Transport.best();
        group = transport.newGroup(1, "diglett-admin");
        listener = new ServerBootstrap()
                .group(group)
                .channel(transport.serverChannel())
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline()
                                .addLast("read-timeout", new ReadTimeoutHandler(30, TimeUnit.SECONDS))
                                .addLast("http", new HttpServerCodec(4096, 8192, 8192))
                                .addLast("aggregator", new HttpObjectAggregator(8192))
                                .addLast("admin", new Handler());
                    }
                })
                .bind(at.host(), at.port()).sync().channel();
        InetSocketAddress address = (InetSocketAddress) listener.localAddress();
        bound = address.getAddress();
        log.info("admin endpoint on http://{}/ (metrics at /metrics{})", io.diglett.protocol.Requests.address(address),
                token == null ? "" : ", bearer token required");
        return address;
    }

    /**
     * Refuses an endpoint that anyone beyond this host could reach without a token: {@code at} must be a
     * loopback address (or a name that resolves to one) unless a token is set.
     *
     * @throws IllegalArgumentException with the reason and the remedy
     */
    public static void requireTokenBeyondLoopback(HostPort at, boolean hasToken) {
        if (hasToken) {
            return;
        }
        boolean loopback;
        try {
            loopback = InetAddress.getByName(at.host()).isLoopbackAddress();
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("--admin " + at + ": unknown host " + at.host());
        }
        if (!loopback) {
            throw new IllegalArgumentException("--admin " + at + " is reachable beyond this host: give it a token"
                    + " (--admin-token or DIGLETT_ADMIN_TOKEN), or bind it to 127.0.0.1");
        }
    }

    /**
     * {@code --admin} values: {@code HOST:PORT}, or just {@code PORT} for localhost (the safe default).
     */
    public static HostPort parseAddress(String text) {
        if (text != null && text.matches("\\d{1,5}")) {
            return new HostPort("127.0.0.1", Integer.parseInt(text));
        }
        return HostPort.parse(text, -1);
    }

    @Override
    public void close() {
        // bounded: a stop must never hang on the admin endpoint
        if (listener != null) {
            listener.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        if (group != null) {
            EventLoops.stop(group, 3, TimeUnit.SECONDS);
        }
    }

    /** One request at a time per connection; keep-alive as the client asks. */
    private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
            Response response;
            QueryStringDecoder uri = new QueryStringDecoder(request.uri());
            if (!request.decoderResult().isSuccess()) {
                response = text(400, "bad request\n");
            } else if (!request.headers().contains(HttpHeaderNames.HOST)) {
                response = text(400, "a Host header is required\n");
            } else if (!allowedHost(request.headers().get(HttpHeaderNames.HOST))) {
                // DNS rebinding: a browser page whose name now points here; no data, no bundled file
                log.debug("admin client {}: Host {} is not this endpoint's", ctx.channel().remoteAddress(),
                        io.diglett.protocol.Printable.of(request.headers().get(HttpHeaderNames.HOST)));
                response = text(421, "this admin endpoint answers only its own address or --admin-host names\n");
            } else if (!authorized(request) && !isStaticFile(uri.path())) {
                response = text(401, "a bearer token is required: Authorization: Bearer TOKEN\n");
            } else if (request.method() != HttpMethod.GET && request.method() != HttpMethod.HEAD) {
                response = text(405, "read-only: GET and HEAD\n");
            } else {
                response = answer(uri.path());
            }
            FullHttpResponse out = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                    HttpResponseStatus.valueOf(response.status()),
                    request.method() == HttpMethod.HEAD ? Unpooled.EMPTY_BUFFER
                            : Unpooled.wrappedBuffer(response.body()));
            out.headers().set(HttpHeaderNames.CONTENT_TYPE, response.contentType())
                    .setInt(HttpHeaderNames.CONTENT_LENGTH, response.body().length)
                    .set(HttpHeaderNames.CACHE_CONTROL, "no-store")
                    .set("X-Content-Type-Options", "nosniff");
            if (response.status() == 401) {
                out.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, "Bearer");
            }
            boolean keepAlive = HttpUtil.isKeepAlive(request) && response.status() < 400;
            if (!keepAlive) {
                out.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            }
            var write = ctx.writeAndFlush(out);
            if (!keepAlive) {
                write.addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("admin client {}: {}", ctx.channel().remoteAddress(),
                    io.diglett.protocol.Printable.of(cause.toString()));
            ctx.close();
        }
    }

    /** The token from {@code Authorization: Bearer}, the only place it is accepted. */
    private boolean authorized(FullHttpRequest request) {
        if (token == null) {
            return true;
        }
        String header = request.headers().get(HttpHeaderNames.AUTHORIZATION);
        String given = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).trim()
                : null;
        return given != null && MessageDigest.isEqual(token, given.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Whether {@code header} (HOST, HOST:PORT or [IPv6]:PORT) names this endpoint: a name given with
     * {@link #hosts}; {@code localhost} when it listens on loopback or every address; an IP literal of the
     * address it listens on (any of this host's addresses when it listens on all). The port is not checked:
     * a browser's same-origin rule already binds a page to one.
     */
    boolean allowedHost(String header) {
        String host = header.trim();
        if (host.startsWith("[")) {
            int end = host.indexOf(']');
            if (end < 0 || !(end + 1 == host.length() || host.charAt(end + 1) == ':')) {
                return false;
            }
            host = host.substring(1, end);
        } else if (host.indexOf(':') != host.lastIndexOf(':')) {
            return false; // an IPv6 literal needs brackets in a Host header
        } else if (host.indexOf(':') >= 0) {
            host = host.substring(0, host.indexOf(':'));
        }
        host = normalizeHost(host);
        if (hosts.contains(host)) {
            return true;
        }
        InetAddress listening = bound;
        if (listening == null) {
            return false;
        }
        if (host.equals("localhost")) {
            return listening.isLoopbackAddress() || listening.isAnyLocalAddress();
        }
        if (!NetUtil.isValidIpV4Address(host) && !NetUtil.isValidIpV6Address(host)) {
            return false; // a DNS name that was not configured: never resolved, so rebinding cannot make it ours
        }
        InetAddress literal = NetUtil.createInetAddressFromIpAddressString(host);
        if (literal == null) {
            return false;
        }
        if (literal.equals(listening)) {
            return true;
        }
        if (!listening.isAnyLocalAddress()) {
            return false;
        }
        try {
            return literal.isLoopbackAddress() || NetworkInterface.getByInetAddress(literal) != null;
        } catch (SocketException e) {
            return false;
        }
    }

    private static String normalizeHost(String name) {
        String host = name.trim().toLowerCase(Locale.ROOT);
        return host.endsWith(".") ? host.substring(0, host.length() - 1) : host;
    }

    /**
     * The bundled files (the dashboard's page, script and style) hold no data and need no token: the page
     * itself asks for the data with the token the user gives it (never sent in an address).
     */
    private boolean isStaticFile(String path) {
        return staticRoot != null && !routes.containsKey(path) && !path.equals("/metrics")
                && staticFile(path.equals("/") ? "/index.html" : path) != null;
    }

    /** What GET {@code path} returns. */
    Response answer(String path) {
        if (path.equals("/metrics")) {
            return metrics();
        }
        Supplier<Response> route = routes.get(path);
        if (route != null) {
            try {
                return route.get();
            } catch (RuntimeException e) {
                log.warn("admin route {} failed", path, e);
                return text(500, "internal error: " + e + "\n");
            }
        }
        if (staticRoot != null) {
            Response file = staticFile(path.equals("/") ? "/index.html" : path);
            if (file != null) {
                return file;
            }
        }
        return text(404, "not found: " + path + "\n");
    }

    private Response metrics() {
        try (var out = new java.io.ByteArrayOutputStream(16 * 1024)) {
            PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
            writer.write(out, registry.scrape());
            return new Response(200, writer.getContentType(), out.toByteArray());
        } catch (IOException e) {
            return text(500, "cannot write metrics: " + e + "\n");
        }
    }

    private Response staticFile(String path) {
        if (!path.matches("/[A-Za-z0-9._-]+") || path.contains("..")) {
            return null;
        }
        String extension = path.substring(path.lastIndexOf('.') + 1);
        String type = TYPES.get(extension);
        if (type == null) {
            return null;
        }
        try (InputStream in = AdminServer.class.getResourceAsStream(staticRoot + path)) {
            return in == null ? null : new Response(200, type, in.readAllBytes());
        } catch (IOException e) {
            return text(500, "cannot read " + path + "\n");
        }
    }

    private static Response text(int status, String message) {
        return new Response(status, "text/plain; charset=utf-8", message.getBytes(StandardCharsets.UTF_8));
    }
}
