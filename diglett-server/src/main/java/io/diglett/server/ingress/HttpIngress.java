package io.diglett.server.ingress;

import io.diglett.server.link.StreamTarget;
import io.diglett.server.link.VisitorPolicy;
import io.diglett.server.visitor.Gate;
import io.diglett.protocol.Reasons;
import io.diglett.server.link.ClientAddress;
import io.diglett.protocol.mux.HandlerNames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Routes HTTP requests by their Host header to the tunnel named by it, behind Netty's request decoder: the
 * first request binds the connection to a tunnel and opens its stream; each request is written to the stream
 * again as HTTP/1.1 bytes with X-Forwarded-For, -Proto and -Host set by the gateway (a client's own values are
 * replaced: they cannot be trusted). Bodies, chunked or not, stream through as they come, under the stream's
 * flow control.
 *
 * <p>A keep-alive request that names another host is never sent to this tunnel: the connection stops taking
 * requests, the stream is half-closed so the backend finishes what it has, and then the connection closes (a
 * client opens a new one and retries). A request that upgrades the connection (WebSocket) pauses reading
 * until the response starts: on {@code 101} the decoder is removed and bytes flow untouched both ways.
 */
final class HttpIngress extends IngressBridge {

    /** How long a new connection may take to send its first request head. */
    static final long FIRST_REQUEST_TIMEOUT_SECONDS = 30;

    private enum State {
        /** Waiting for the first request head. */
        ROUTING,
        /** Bound to a tunnel: requests for it are forwarded. */
        FORWARDING,
        /** An upgrade request went out: no reading until the response says whether it switched. */
        UPGRADING,
        /** Upgraded (101): bytes flow untouched. */
        RAW,
        /** A request named another host, or the client is answered: nothing more is forwarded. */
        ENDED
    }

    private final Ingress ingress;
    private final boolean https;
    /** The host the TLS server name (SNI) gave, as routing reads it; {@code null} over plain HTTP or without SNI. */
    private final String serverName;
    private State state = State.ROUTING;
    /** The request being forwarded uses chunked transfer coding (its chunks are framed again). */
    private boolean chunked;
    /** The request being forwarded asks to upgrade the connection. */
    private boolean upgrade;
    /** A read asked for while reading is paused. */
    private boolean readPending;
    /** The first bytes of the response to an upgrade request, until its status code is known. */
    private byte[] statusLine = new byte[0];
    private ScheduledFuture<?> firstRequestTimer;
    /** A request head came and its last content has not yet: the client is sending a request. */
    private boolean readingRequest;
    /** Where the responses to the forwarded requests end. */
    private final ResponseTracker responses = new ResponseTracker();

    /** Plain HTTP: routed by the Host header alone. */
    HttpIngress(Ingress ingress) {
        this(ingress, false, null);
    }

    /**
     * Behind TLS terminated here when {@code https}: a request whose Host names another host than the TLS server
     * name {@code serverName} (if the client sent one) gets 421, so one name's connection never carries requests
     * for another.
     */
    HttpIngress(Ingress ingress, boolean https, String serverName) {
        this.ingress = ingress;
        this.https = https;
        this.serverName = serverName == null ? null : ingress.route(serverName).host();
    }

    @Override
    protected boolean http() {
        return true;
    }

    @Override
    protected Ingress ingress() {
        return ingress;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        super.handlerAdded(ctx);
        java.time.Duration idle = ingress.limits().ingressIdleTimeout();
        if (!idle.isZero()) {
            ctx.pipeline().addFirst(HandlerNames.IDLE, new IngressIdle(idle, this, ingress.events()));
        }
        firstRequestTimer = ctx.executor().schedule(() -> {
            if (state == State.ROUTING && !answered) {
                errorPage(IngressPages.badRequest(408, "Request Timeout", "no request within "
                        + FIRST_REQUEST_TIMEOUT_SECONDS + " s"));
            }
        }, FIRST_REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        if (ctx.channel().isActive()) {
            ctx.read();
        }
    }

    /**
     * A first request waiting for its password check: its head, target, name and host, and every message read after
     * it (its body, and any request pipelined behind it), replayed in order once the check ends.
     */
    private record Held(HttpRequest request, RequestTarget target, StreamTarget tunnel, String host,
                        java.util.List<Object> after) {
    }

    private Held held;
    /** The name's response header rules, when it has any. */
    private ResponseHeaders responseHeaders;
    /** Who the request being forwarded comes from, as the name's login verified it; {@code null}: no login. */
    private io.diglett.server.visitor.Identity identity;

    /** How long a request waits for its login's check or answer (a provider's calls included): then 503 or 502. */
    static final long LOGIN_TIMEOUT_SECONDS = 20;

    /** Messages held behind a request whose password is checked, at most (reads stop meanwhile). */
    static final int MAX_HELD = 64;

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.read();
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (held != null) {
            // a password check is under way: whatever was read with the request waits for it, in order (a
            // pipelined request included: it is routed and checked like any other once its turn comes)
            if (held.after().size() < MAX_HELD) {
                held.after().add(msg);
            } else {
                ReferenceCountUtil.release(msg);
                ctx.close();
            }
            return;
        }
        if (msg instanceof HttpRequest request) {
            readingRequest = true;
            onRequest(request);
        }
        if (msg instanceof LastHttpContent) {
            readingRequest = false;
        }
        if (msg instanceof HttpContent content) {
            onContent(content);
        } else if (msg instanceof ByteBuf raw) {
            // after an upgrade the decoder is gone: what it still held, and everything after, is opaque
            forward(raw);
        } else if (!(msg instanceof HttpRequest)) {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (state == State.ROUTING && !answered && held == null) {
            ctx.read(); // the request head is not complete yet
        }
        ctx.fireChannelReadComplete();
    }

    private void onRequest(HttpRequest request) {
        if (state == State.ENDED || answered) {
            return;
        }
        DecoderResult result = request.decoderResult();
        if (result.isFailure()) {
            refuseMalformed(result.cause());
            return;
        }
        java.util.List<String> hosts = request.headers().getAll(HttpHeaderNames.HOST);
        if (hosts.size() != 1) {
            if (state == State.ROUTING) {
                errorPage(IngressPages.badRequest(400, "Bad Request", hosts.isEmpty()
                        ? "the request has no Host header, so it names no tunnel" : "more than one Host header"));
            } else {
                // requests before it are being answered on this connection: end like a host switch
                state = State.ENDED;
                endInput();
            }
            return;
        }
        RequestTarget target;
        try {
            target = RequestTarget.of(request.uri());
        } catch (IllegalArgumentException e) {
            if (state == State.ROUTING) {
                errorPage(IngressPages.badRequest(400, "Bad Request", e.getMessage()));
            } else {
                state = State.ENDED;
                endInput();
            }
            return;
        }
        // an absolute-form target's authority, not Host, is the host the request is for (RFC 9112, 3.2.2): it is
        // what the SNI check, the routing and the backend (Host is set to it) all read
        Ingress.Route route = ingress.route(target.host(hosts.get(0)));
        if (state == State.ROUTING) {
            if (firstRequestTimer != null) {
                firstRequestTimer.cancel(false);
            }
            if (serverName != null && !serverName.equals(route.host())) {
                // the certificate was chosen and the connection accepted for the TLS server name: a Host for another
                // name is misdirected (RFC 9110, 15.5.20), never routed
                errorPage(IngressPages.badRequest(421, "Misdirected Request", "the TLS server name is '"
                        + serverName + "' but the request is for '" + route.host() + "'; connect with the server"
                        + " name of the host you ask for"));
                return;
            }
            if (route.tunnel() == null) {
                errorPage(IngressPages.notFound(route.host(), ingress.domain()));
                return;
            }
            if (route.tunnel().tlsPassthrough() && !https) {
                errorPage(ingress.httpsRedirect(route.host(), target.uri()));
                return;
            }
            if (route.tunnel().tlsPassthrough()) {
                // a TLS connection terminated here (its server name named another tunnel): this name's backend
                // expects the client's own TLS, never decrypted requests
                errorPage(IngressPages.badRequest(421, "Misdirected Request", "'" + route.host() + "' is served"
                        + " by its own TLS endpoint; connect with that server name"));
                return;
            }
            VisitorPolicy.Decision decision = route.tunnel().visitors().admit(ClientAddress.remote(ctx.channel()));
            if (decision == VisitorPolicy.Decision.DENIED) {
                errorPage(IngressPages.forbidden(route.host()));
                return;
            }
            if (decision == VisitorPolicy.Decision.LIMITED) {
                errorPage(IngressPages.rateLimited(route.host(), route.tunnel().visitors().retryAfterSeconds()));
                return;
            }
            io.diglett.server.visitor.VisitorLogin login = route.tunnel().visitors().login();
            if (login != null) {
                String authority = target.authority() != null ? target.authority() : hosts.get(0);
                Gate gate = login.gate(request, target.uri(), route.host(), authority, https);
                if (gate instanceof Gate.Refuse refuse) {
                    route.tunnel().visitors().refusedLogin();
                    errorPage(IngressPages.unauthorized(route.host(), refuse.challenge()));
                    return;
                }
                if (gate instanceof Gate.UseHttps) {
                    errorPage(ingress.httpsRedirect(route.host(), target.uri()));
                    return;
                }
                if (gate instanceof Gate.Check check) {
                    // the slow check runs off the event loop; this connection reads nothing meanwhile
                    held = new Held(request, target, route.tunnel(), route.host(), new java.util.ArrayList<>());
                    check.check().orTimeout(LOGIN_TIMEOUT_SECONDS, TimeUnit.SECONDS).whenComplete((who, error)
                            -> ctx.executor().execute(() -> checked(who, error, check.challenge())));
                    return;
                }
                if (gate instanceof Gate.Answer answer) {
                    // the gateway answers (the login's redirects and pages), maybe after asking the provider
                    held = new Held(request, target, route.tunnel(), route.host(), new java.util.ArrayList<>());
                    answer.reply().orTimeout(LOGIN_TIMEOUT_SECONDS, TimeUnit.SECONDS).whenComplete((reply, error)
                            -> ctx.executor().execute(() -> answered(reply, error)));
                    return;
                }
                identity = ((Gate.Pass) gate).who();
            }
            state = State.FORWARDING;
            forwardHead(request, target, true, route.tunnel());
            connect(route.tunnel());
        } else if (java.util.Objects.equals(route.tunnel(), tunnel()) && state == State.FORWARDING) {
            io.diglett.server.visitor.VisitorLogin login = route.tunnel().visitors().login();
            io.diglett.server.visitor.Identity who = login == null ? null
                    : login.again(request, target.uri(), route.host());
            if (route.tunnel().visitors().admit(ClientAddress.remote(ctx.channel())) != VisitorPolicy.Decision.ALLOWED
                    || login != null && who == null) {
                // over the name's rate on a keep-alive connection, or credentials not verified lately: the
                // responses before it finish, then the connection ends; the client's next connection is answered
                // (429, or the login checks them)
                state = State.ENDED;
                endInput();
            } else {
                identity = who;
                forwardHead(request, target, false, route.tunnel());
            }
        } else {
            // another host on a keep-alive connection: never to this tunnel; let the backend finish, then close
            state = State.ENDED;
            endInput();
        }
    }

    private void refuseMalformed(Throwable cause) {
        if (state == State.ROUTING) {
            if (cause instanceof TooLongHttpHeaderException) {
                errorPage(IngressPages.badRequest(431, "Request Header Fields Too Large", "the request head is"
                        + " larger than " + Ingress.MAX_HEADER_SIZE + " bytes"));
            } else if (cause instanceof TooLongHttpLineException || cause instanceof TooLongFrameException) {
                errorPage(IngressPages.badRequest(414, "URI Too Long", "the request line is longer than "
                        + Ingress.MAX_INITIAL_LINE + " bytes"));
            } else {
                errorPage(IngressPages.badRequest(400, "Bad Request", "malformed request: " + Reasons.of(cause)));
            }
        } else {
            // requests before it were forwarded: end the stream's input, the backend answers them, then close
            state = State.ENDED;
            endInput();
        }
    }

    private void onContent(HttpContent content) {
        try {
            if (state != State.FORWARDING || answered) {
                return;
            }
            ByteBuf data = content.content();
            if (content.decoderResult().isFailure()) {
                state = State.ENDED;
                endInput();
                return;
            }
            boolean last = content instanceof LastHttpContent;
            if (!chunked) {
                if (data.isReadable()) {
                    forward(data.retain());
                }
            } else {
                forwardChunk(data, last ? (LastHttpContent) content : null);
            }
            if (last && upgrade) {
                // the request is out; until its answer says whether the protocol switched, read nothing more
                state = State.UPGRADING;
            }
        } finally {
            content.release();
        }
    }

    /** The credential check of the held request ended: its identity ({@code null}: refused), or {@code error}. */
    private void checked(io.diglett.server.visitor.Identity who, Throwable error, String challenge) {
        Held was = held;
        held = null;
        if (!ctx.channel().isActive() || answered || error != null || who == null) {
            was.after().forEach(ReferenceCountUtil::release);
            was.tunnel().visitors().refusedLogin();
            if (ctx.channel().isActive() && !answered) {
                Throwable cause = unwrapped(error);
                errorPage(cause == null ? IngressPages.unauthorized(was.host(), challenge)
                        : IngressPages.unavailable(was.tunnel().name(), cause instanceof TimeoutException
                        ? "the login check took longer than " + LOGIN_TIMEOUT_SECONDS + " s"
                        : cause instanceof java.util.concurrent.RejectedExecutionException
                        ? "too many logins being checked" : "the login check failed: " + Reasons.of(cause)));
            }
            return;
        }
        identity = who;
        state = State.FORWARDING;
        forwardHead(was.request(), was.target(), true, was.tunnel());
        connect(was.tunnel());
        was.after().forEach(message -> channelRead(ctx, message));
    }

    /** The login's own answer to the held request is ready (or its call to the provider failed). */
    private void answered(Gate.Reply reply, Throwable error) {
        Held was = held;
        held = null;
        was.after().forEach(ReferenceCountUtil::release);
        if (!ctx.channel().isActive() || answered) {
            return;
        }
        Throwable cause = unwrapped(error);
        if (cause instanceof java.util.concurrent.RejectedExecutionException) {
            errorPage(IngressPages.unavailable(was.tunnel().name(), "too many logins being checked"));
        } else if (cause instanceof TimeoutException) {
            errorPage(IngressPages.badGateway(was.tunnel().name(), "the identity provider did not answer within "
                    + LOGIN_TIMEOUT_SECONDS + " s"));
        } else if (cause != null) {
            errorPage(IngressPages.badGateway(was.tunnel().name(), "the identity provider could not be reached or"
                    + " answered wrongly: " + Reasons.of(cause)));
        } else {
            if (reply.status() == 401 || reply.status() == 403) {
                was.tunnel().visitors().refusedLogin(); // an account OpenID does not allow, a provider's refusal
            }
            errorPage(IngressPages.reply(reply));
        }
    }

    /** What a login's future failed with, without the CompletionException a dependent stage wraps it in. */
    private static Throwable unwrapped(Throwable error) {
        return error instanceof java.util.concurrent.CompletionException && error.getCause() != null
                ? error.getCause() : error;
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        Held was = held;
        held = null;
        if (was != null) {
            was.after().forEach(ReferenceCountUtil::release);
        }
        if (responseHeaders != null) {
            responseHeaders.release();
        }
        super.handlerRemoved(ctx);
    }

    /**
     * The request line and headers, with the gateway's X-Forwarded-* headers, without the client's hop-by-hop
     * headers (see {@link #stripHopByHop}), in origin-form with Host set to the target's authority for an
     * absolute-form target. An Upgrade (WebSocket) is honoured on the first request of a connection only, when
     * no earlier response can still be on its way (clients open a new connection for it); on a later request the
     * Upgrade header is dropped, so the backend answers it as a plain request and the bytes after it are still
     * parsed as HTTP.
     */
    private void forwardHead(HttpRequest request, RequestTarget target, boolean first, StreamTarget to) {
        responses.requestSent(HttpMethod.HEAD.equals(request.method()));
        HttpHeaders headers = request.headers();
        chunked = HttpUtil.isTransferEncodingChunked(request);
        boolean asksUpgrade = headers.contains(HttpHeaderNames.UPGRADE)
                && headers.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true);
        // a name with header rules or a login keeps HTTP/1.1 to its end, except for WebSocket (whose frames carry
        // no headers): an h2c upgrade would carry later requests the gateway no longer reads, identity headers and
        // all
        upgrade = asksUpgrade && first && (!to.visitors().policy().rewritesHeaders() || headers.getAll(
                HttpHeaderNames.UPGRADE).stream().allMatch(u -> u.strip().equalsIgnoreCase("websocket")));
        statusLine = new byte[0];
        if (target.authority() != null) {
            headers.set(HttpHeaderNames.HOST, target.authority());
        }
        stripHopByHop(headers, upgrade);
        stripForwardingHeaders(headers, false);
        String clientIp = ClientAddress.remote(ctx.channel()) instanceof InetSocketAddress inet
                && inet.getAddress() != null
                ? inet.getAddress().getHostAddress() : "unknown";
        headers.set(Ingress.X_FORWARDED_FOR, clientIp);
        headers.set(Ingress.X_FORWARDED_PROTO, https ? "https" : "http");
        headers.set(Ingress.X_FORWARDED_HOST, headers.get(HttpHeaderNames.HOST));
        io.diglett.protocol.Policy policy = to.visitors().policy();
        if (first && !policy.setResponseHeaders().isEmpty()) {
            responseHeaders = new ResponseHeaders(policy.setResponseHeaders(), ctx.alloc());
        }
        if (policy.rewritesHeaders()) { // the name's header rules: never the framing, Host or X-Forwarded-*
            policy.removeRequestHeaders().forEach(headers::remove);
            policy.setRequestHeaders().forEach(rule -> headers.set(rule.name(), rule.value()));
        }
        removeIdentityHeaders(headers); // only the gateway says who logged in
        io.diglett.server.visitor.VisitorLogin login = to.visitors().login();
        if (login != null) {
            login.strip(request); // a password or a session cookie stays at the gateway
            headers.set(X_DIGLETT_USER, headerValue(identity.user()));
            if (identity.email() != null) {
                headers.set(X_DIGLETT_EMAIL, headerValue(identity.email()));
            }
        }
        ByteBuf head = ctx.alloc().buffer(256 + target.uri().length() + 32 * headers.size());
        head.writeCharSequence(request.method().asciiName(), StandardCharsets.US_ASCII);
        head.writeByte(' ');
        head.writeCharSequence(target.uri(), StandardCharsets.ISO_8859_1); // the decoder read it byte for char
        head.writeByte(' ');
        head.writeCharSequence(request.protocolVersion().text(), StandardCharsets.US_ASCII);
        head.writeShort(CRLF);
        writeHeaders(head, headers);
        head.writeShort(CRLF);
        forward(head);
    }

    private static final int CRLF = ('\r' << 8) | '\n';

    /**
     * Removes every {@code x-diglett-*} header a client sent, also spelled with underscores (which CGI-style servers
     * read as the same header): only the gateway's reach the backend.
     */
    private static void removeIdentityHeaders(HttpHeaders headers) {
        java.util.List<CharSequence> own = null; // most requests have none: nothing allocated for them
        for (var it = headers.iteratorCharSequence(); it.hasNext(); ) {
            CharSequence name = it.next().getKey();
            if (name.length() >= 10 && identityPrefix(name)) {
                if (own == null) {
                    own = new java.util.ArrayList<>(2);
                }
                own.add(name);
            }
        }
        if (own != null) {
            own.forEach(headers::remove);
        }
    }

    /** Whether {@code name} starts with {@code x-diglett-}, in any case, with {@code _} for {@code -}. */
    private static boolean identityPrefix(CharSequence name) {
        String prefix = "x-diglett-";
        for (int i = 0; i < prefix.length(); i++) {
            char c = Character.toLowerCase(name.charAt(i));
            if (c != prefix.charAt(i) && !(c == '_' && prefix.charAt(i) == '-')) {
                return false;
            }
        }
        return true;
    }

    /**
     * An identity value as a header carries it: visible ASCII and spaces as they are, anything else (a name in
     * another script) percent-encoded as UTF-8, so that two different values never arrive as the same bytes.
     */
    static String headerValue(String value) {
        StringBuilder out = new StringBuilder(value.length());
        for (byte b : value.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if (c >= 0x20 && c < 0x7f && c != '%') {
                out.append((char) c);
            } else {
                out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
            }
        }
        return out.toString();
    }

    /** The user a request's basic auth named, set by the gateway for the backend; a client's own never passes. */
    static final io.netty.util.AsciiString X_DIGLETT_USER = io.netty.util.AsciiString.cached("x-diglett-user");
    /** The verified email address of a visitor who logged in with OpenID Connect (or a token that has one). */
    static final io.netty.util.AsciiString X_DIGLETT_EMAIL = io.netty.util.AsciiString.cached("x-diglett-email");

    /** Headers a Connection option never removes: the request's framing and host, which the gateway read too. */
    private static final java.util.Set<String> NEVER_HOP_BY_HOP = java.util.Set.of("host", "content-length",
            "transfer-encoding");

    /**
     * Removes the client's hop-by-hop headers, as a proxy must (RFC 9110, 7.6.1): every header its Connection
     * options name, and Keep-Alive, Proxy-Connection, TE and Upgrade (kept for an upgrade the ingress honours,
     * with HTTP2-Settings for an h2c one); then Connection says only what the gateway means: {@code close} or
     * {@code keep-alive} as the client asked, {@code upgrade}, and {@code te} with {@code TE: trailers} if the
     * client accepts trailers (the response bytes reach it unchanged). Otherwise a backend that is itself a
     * proxy would delete what the options name, the gateway's X-Forwarded-* included. Content-Length,
     * Transfer-Encoding and Host stay whatever the options say: the gateway framed the request by them.
     */
    private static void stripHopByHop(HttpHeaders headers, boolean upgrading) {
        java.util.Set<String> options = new java.util.LinkedHashSet<>();
        for (String value : headers.getAll(HttpHeaderNames.CONNECTION)) {
            for (String option : value.split(",")) {
                String name = option.trim().toLowerCase(java.util.Locale.ROOT);
                if (!name.isEmpty()) {
                    options.add(name);
                }
            }
        }
        boolean h2cSettings = upgrading && options.contains("http2-settings")
                && headers.containsValue(HttpHeaderNames.UPGRADE, "h2c", true);
        boolean trailers = false;
        for (String value : headers.getAll(HttpHeaderNames.TE)) {
            for (String coding : value.split(",")) {
                trailers |= coding.trim().equalsIgnoreCase("trailers");
            }
        }
        for (String name : options) {
            boolean kept = NEVER_HOP_BY_HOP.contains(name) || upgrading && name.equals("upgrade")
                    || h2cSettings && name.equals("http2-settings");
            if (!kept) {
                headers.remove(name);
            }
        }
        headers.remove("keep-alive");
        headers.remove("proxy-connection");
        headers.remove(HttpHeaderNames.TE);
        if (!upgrading) {
            headers.remove(HttpHeaderNames.UPGRADE);
        }
        java.util.List<String> own = new java.util.ArrayList<>(4);
        if (options.contains("close")) {
            own.add("close");
        } else if (options.contains("keep-alive")) {
            own.add("keep-alive");
        }
        if (upgrading) {
            own.add("Upgrade");
        }
        if (h2cSettings) {
            own.add("HTTP2-Settings");
        }
        if (trailers) {
            headers.set(HttpHeaderNames.TE, HttpHeaderValues.TRAILERS);
            own.add("TE");
        }
        headers.remove(HttpHeaderNames.CONNECTION);
        if (!own.isEmpty()) {
            headers.set(HttpHeaderNames.CONNECTION, String.join(", ", own));
        }
    }

    /**
     * Removes every forwarding header a client may have sent (Forwarded, X-Real-IP, X-Forwarded, X-Forwarded-*,
     * and the client-address headers of {@code --client-ip-header}, also spelled with underscores, which
     * CGI-style servers read the same): only the gateway's own reach the backend. From the trailers of a chunked
     * request ({@code trailers}) Host goes too: a backend that merges trailers into the headers must not find a
     * client's own address or host there.
     */
    private void stripForwardingHeaders(HttpHeaders headers, boolean trailers) {
        java.util.List<String> drop = new java.util.ArrayList<>();
        for (String name : headers.names()) {
            if (forwarding(name) || trailers && HttpHeaderNames.HOST.contentEqualsIgnoreCase(name)) {
                drop.add(name);
            }
        }
        drop.forEach(headers::remove);
    }

    /** Whether {@code name} is a header that says where the client is from (or, in trailers, routes). */
    private boolean forwarding(String name) {
        String n = name.toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        return n.equals("forwarded") || n.equals("x-real-ip") || n.equals("x-forwarded")
                || n.startsWith("x-forwarded-") || ingress.clientIpHeaders().contains(n);
    }

    /** Header lines as the decoder read them (ISO-8859-1 keeps any obs-text byte as it was). */
    private static void writeHeaders(ByteBuf out, HttpHeaders headers) {
        for (var it = headers.iteratorCharSequence(); it.hasNext(); ) {
            Map.Entry<CharSequence, CharSequence> header = it.next();
            out.writeCharSequence(header.getKey(), StandardCharsets.ISO_8859_1);
            out.writeByte(':').writeByte(' ');
            out.writeCharSequence(header.getValue(), StandardCharsets.ISO_8859_1);
            out.writeShort(CRLF);
        }
    }

    /** One chunk in chunked coding; with {@code last}, the final zero-size chunk and the trailers too. */
    private void forwardChunk(ByteBuf data, LastHttpContent last) {
        CompositeByteBuf out = ctx.alloc().compositeBuffer(3);
        if (data.isReadable()) {
            ByteBuf size = ctx.alloc().buffer(12);
            size.writeCharSequence(Integer.toHexString(data.readableBytes()), StandardCharsets.US_ASCII);
            size.writeShort(CRLF);
            out.addComponent(true, size);
            out.addComponent(true, data.retain());
            out.addComponent(true, ctx.alloc().buffer(2).writeShort(CRLF));
        }
        if (last != null) {
            ByteBuf end = ctx.alloc().buffer(16);
            end.writeByte('0').writeShort(CRLF);
            stripForwardingHeaders(last.trailingHeaders(), true);
            removeIdentityHeaders(last.trailingHeaders());
            writeHeaders(end, last.trailingHeaders());
            end.writeShort(CRLF);
            out.addComponent(true, end);
        }
        if (out.isReadable()) {
            forward(out);
        } else {
            out.release();
        }
    }

    // ---------------------------------------------------------------- reading and the upgrade switch

    @Override
    public void read(ChannelHandlerContext ctx) {
        if (state == State.UPGRADING) {
            readPending = true; // the client must wait for the 101 before it sends anything anyway
        } else if (state != State.ENDED && !answered && mayRead()) {
            ctx.read();
        }
    }

    /**
     * Whether the idle timeout must leave this connection alone: the client is sending a request, a forwarded
     * request has not been answered to its last byte yet (the backend is working on it, or pauses within its
     * response), response bytes still wait to reach the client, or the connection was upgraded (WebSocket: its
     * own protocol decides what idle means).
     */
    boolean requestInProgress() {
        if (state == State.UPGRADING || state == State.RAW || (readingRequest && state != State.ENDED)
                || responses.inProgress()) {
            return true;
        }
        ChannelOutboundBuffer out = ctx.channel().unsafe().outboundBuffer();
        return out != null && out.totalPendingWriteBytes() > 0;
    }

    @Override
    protected void onResponse(ByteBuf bytes) {
        responses.response(bytes);
        switchedProtocols(bytes);
    }

    /** With response header rules: each head rewritten as it ends (see {@link ResponseHeaders}). */
    @Override
    public void write(ChannelHandlerContext ctx, Object msg, io.netty.channel.ChannelPromise promise) {
        ResponseHeaders rules = responseHeaders;
        if (rules == null || !(msg instanceof ByteBuf bytes) || !bytes.isReadable() || answered) {
            super.write(ctx, msg, promise);
            return;
        }
        responseStarted = true;
        java.util.List<ByteBuf> pieces;
        try {
            pieces = rules.rewrite(bytes, responses);
        } catch (IllegalStateException e) {
            promise.tryFailure(e);
            ctx.close(); // a head too large to rewrite never reaches the client without the name's rules
            return;
        }
        if (pieces.isEmpty()) {
            promise.trySuccess(); // held: a head not ended yet, at most ResponseHeaders.MAX_HEAD bytes
            return;
        }
        for (int i = 0; i < pieces.size(); i++) {
            switchedProtocols(pieces.get(i));
            ctx.write(pieces.get(i), i == pieces.size() - 1 ? promise : ctx.voidPromise());
        }
    }

    /** The response to an upgrade request, as it starts: whether the protocol switched (101). */
    private void switchedProtocols(ByteBuf bytes) {
        if (!upgrade) {
            return; // only the answer to an upgrade request is looked at
        }
        int want = Math.min(PREFIX_101.length - statusLine.length, bytes.readableBytes());
        byte[] more = new byte[statusLine.length + want];
        System.arraycopy(statusLine, 0, more, 0, statusLine.length);
        bytes.getBytes(bytes.readerIndex(), more, statusLine.length, want);
        statusLine = more;
        if (statusLine.length < PREFIX_101.length) {
            return;
        }
        // "HTTP/1.1 101" (or 1.0): the protocol switched; anything else answers the request as plain HTTP
        boolean switched = new String(statusLine, StandardCharsets.US_ASCII).matches("HTTP/1\\.[01] 101");
        statusLine = new byte[0];
        upgrade = false;
        if (switched) {
            // the upgrade request has no body in practice (WebSocket); bytes from now on are the new protocol
            state = State.RAW;
            if (ctx.pipeline().get(HandlerNames.HTTP_DECODER) != null) {
                ctx.pipeline().remove(HandlerNames.HTTP_DECODER);
            }
        } else if (state == State.UPGRADING) {
            state = State.FORWARDING; // declined: plain HTTP goes on
        }
        if (readPending) {
            readPending = false;
            ctx.read();
        }
    }

    private static final byte[] PREFIX_101 = "HTTP/1.1 101".getBytes(StandardCharsets.US_ASCII);

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == io.netty.channel.socket.ChannelInputShutdownEvent.INSTANCE && state == State.ROUTING
                && !answered) {
            // the client ended its side before a whole request: nothing will come, do not hold its connection
            // (and its place under --max-connections-per-ip) until the first-request timer
            ctx.close();
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (firstRequestTimer != null) {
            firstRequestTimer.cancel(false);
        }
        super.channelInactive(ctx);
    }
}
