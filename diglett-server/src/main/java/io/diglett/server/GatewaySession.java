package io.diglett.server;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Handshake;
import io.diglett.protocol.Names;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.Reasons;
import io.diglett.protocol.Requests;
import io.diglett.protocol.Signals;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Heartbeat;
import io.diglett.protocol.mux.LinkSession;
import io.diglett.protocol.mux.Stream;
import io.diglett.protocol.mux.StreamState;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.Promise;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's end of one agent link. Phases: handshake, login, registration, active. In the active phase
 * each public connection on one of the agent's listeners becomes a stream: Open goes to the agent, and the
 * connection's reads stay paused until the agent's Ok says the backend is connected.
 */
final class GatewaySession extends LinkSession {

    private static final Logger log = LoggerFactory.getLogger(GatewaySession.class);

    /** How long a draining link may stay open after its streams ended, for the agent to close it. */
    static final java.time.Duration TERMINATE_GRACE = java.time.Duration.ofSeconds(2);

    enum Phase { HANDSHAKE, LOGIN, REGISTER, ACTIVE, CLOSED }

    private final Gateway gateway;
    private Phase phase = Phase.HANDSHAKE;
    private String principal;
    private final Map<Integer, Tunnel> tunnels = new LinkedHashMap<>();
    private int pendingBinds;
    private boolean finishRequested;
    private int nextStreamId = 1;
    private ScheduledFuture<?> handshakeTimer;
    /** SHA-256 of the login token, or null without one; read by other links' sessions for takeover. */
    private volatile byte[] tokenDigest;
    private boolean draining;
    /** The registrar is working on this session's names. */
    private boolean exposing;
    /** Completed once the link is closed and its names released (listeners run on the global executor). */
    private final Promise<Void> closed = GlobalEventExecutor.INSTANCE.newPromise();

    GatewaySession(Gateway gateway) {
        super(gateway.config().window());
        this.gateway = gateway;
    }

    Phase phase() {
        return phase;
    }

    /** The link's event loop: streams of this link run there. */
    io.netty.util.concurrent.EventExecutor executor() {
        return ctx.executor();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        long millis = gateway.config().limits().handshakeTimeout().toMillis();
        handshakeTimer = ctx.executor().schedule(() -> {
            if (phase != Phase.ACTIVE && phase != Phase.CLOSED) {
                fail("handshake not finished within " + millis + " ms (TLS, login and registration)");
            }
        }, millis, TimeUnit.MILLISECONDS);
        ctx.fireChannelActive();
    }

    @Override
    protected boolean streamsAllowed() {
        return phase == Phase.ACTIVE;
    }

    @Override
    protected void onHandshake(Handshake handshake) {
        int version = handshake.negotiate();
        ctx.write(Handshake.encode(ctx.alloc(), version < 0 ? Protocol.VERSION : version));
        if (version < 0) {
            refuse("unsupported protocol version " + handshake.version() + "; this gateway speaks versions "
                    + Protocol.OLDEST_SERVED_VERSION + " to " + Protocol.VERSION + ": upgrade the agent");
            return;
        }
        useVersion(version);
        ctx.flush();
        phase = Phase.LOGIN;
    }

    @Override
    protected void onFrame(Frame frame) {
        switch (phase) {
            case LOGIN -> {
                if (frame.kind() != FrameKind.LOGIN) {
                    unexpected(frame);
                    return;
                }
                login(Requests.Login.decode(frame).token());
            }
            case REGISTER -> {
                switch (frame.kind()) {
                    case REGISTER -> register(frame.id(), Requests.Register.decode(frame));
                    case FINISH_REGISTER -> finish();
                    case TERMINATE -> terminated(frame);
                    default -> unexpected(frame);
                }
            }
            case ACTIVE -> {
                switch (frame.kind()) {
                    case OK -> streamOpened(frame);
                    case ERROR -> streamRefused(frame);
                    case TERMINATE -> terminated(frame);
                    default -> unexpected(frame);
                }
            }
            default -> unexpected(frame);
        }
    }

    /** Counts a link that ends before it was active, by the stage it reached. */
    private void countHandshakeFailure(String reason) {
        if (failed() || phase == Phase.ACTIVE || phase == Phase.CLOSED) {
            return;
        }
        String stage = reason != null && reason.startsWith("handshake not finished within") ? "timeout"
                : switch (phase) {
                    case HANDSHAKE -> ctx.pipeline().get(io.netty.handler.ssl.SslHandler.class) == null
                            && ctx.pipeline().get(HandlerNames.TLS_DETECT) != null ? "not_tls" : "handshake";
                    case LOGIN -> "login";
                    default -> "registration";
                };
        gateway.metrics().handshakeFailures.labelValues(stage).inc();
    }

    @Override
    protected void fail(String reason) {
        countHandshakeFailure(reason);
        super.fail(reason);
    }

    @Override
    protected void refuse(String reason) {
        countHandshakeFailure(reason);
        super.refuse(reason);
    }

    private void unexpected(Frame frame) {
        fail("unexpected " + frame.kind() + " frame in phase " + phase);
    }

    private void terminated(Frame frame) {
        log.info("agent {} ended its session: {}", peer(), Signals.Reason.decode(frame).text());
        ctx.close();
    }

    // ---------------------------------------------------------------- login and registration

    private void login(String token) {
        try {
            principal = gateway.authenticator().authenticate(token);
        } catch (AccessDeniedException e) {
            gateway.metrics().authFailures.labelValues("login_refused").inc();
            refuse("login refused: " + Reasons.of(e));
            return;
        }
        tokenDigest = token.isEmpty() ? null : TokenFile.sha256(token);
        phase = Phase.REGISTER;
        log.debug("agent {} logged in as {}", peer(), principal);
        ctx.writeAndFlush(Frame.ok(Protocol.CONNECTION_ID));
    }

    private void register(int registration, Requests.Register request) {
        register(registration, request, true);
    }

    private void register(int registration, Requests.Register request, boolean mayTakeOver) {
        String name = request.name();
        String refusal = registrationProblem(registration, request);
        if (refusal != null) {
            log.info("agent {} registration {} refused: {}", peer(), Integer.toUnsignedString(registration),
                    refusal);
            reply(Frame.error(ctx.alloc(), registration, refusal));
            return;
        }
        Tunnel tunnel = new Tunnel(name, registration, this, request.tlsPassthrough());
        if (!claim(tunnel)) {
            Tunnel holder = gateway.names().get(name);
            if (mayTakeOver && holder != null && holder.session != this && holder.session.sameToken(tokenDigest)) {
                takeOver(holder, registration, request);
                return;
            }
            gateway.metrics().authFailures.labelValues("name_in_use").inc();
            if (holder == null || holder.session != this && tokenDigest == null && !holder.session.hasToken()) {
                // Gone between our attempts, or held by a link whose owner we cannot tell from this one (neither
                // has a token): it may be this agent's own dying link, so a request error the agent may retry
                log.info("agent {} asked for name '{}', which is already in use", peer(), name);
                reply(Frame.error(ctx.alloc(), registration, Names.inUse(name)));
                return;
            }
            // Held under another token (the same one took it over above), or by this very link: that will not
            // change by trying again, so the agent is refused for good and stops with this reason
            log.info("agent {} asked for name '{}', which {} holds", peer(), name,
                    holder.session == this ? "this link already" : "another token");
            refuse(Names.inUse(name));
            return;
        }
        tunnels.put(registration, tunnel);
        pendingBinds++;
        gateway.bindPublic(tunnel, ctx.channel().eventLoop()).addListener(f -> {
            pendingBinds--;
            bound(tunnel, f.isSuccess() ? (Channel) f.getNow() : null, f.cause());
        });
    }

    /**
     * The same token asks again for a name its earlier link still holds: that link is most likely dead (the
     * agent reconnected before the gateway noticed), so it is closed and the name handed over.
     */
    private void takeOver(Tunnel holder, int registration, Requests.Register request) {
        String name = request.name();
        log.info("agent {} takes over '{}' from its previous link {}", peer(), name, holder.session.peer());
        pendingBinds++;
        holder.session.evict("name '" + name + "' was taken over by a new connection of the same token from "
                + peer()).addListener(f -> ctx.executor().execute(() -> {
                    pendingBinds--;
                    if (phase == Phase.CLOSED) {
                        return;
                    }
                    register(registration, request, false);
                    if (finishRequested && pendingBinds == 0) {
                        finish();
                    }
                }));
    }

    /** Whether this session logged in with a non-empty token. */
    boolean hasToken() {
        return tokenDigest != null;
    }

    /** Whether this session logged in with the (non-empty) token whose SHA-256 is {@code digest}. */
    boolean sameToken(byte[] digest) {
        byte[] mine = tokenDigest;
        return mine != null && digest != null && java.security.MessageDigest.isEqual(mine, digest);
    }

    /** Closes this link from another thread; the future completes once its names are released. */
    Future<Void> evict(String reason) {
        ctx.executor().execute(() -> refuse(reason));
        return closed;
    }

    /** Claims the tunnel's name; a holder that goes away between the attempts is not "in use". */
    private boolean claim(Tunnel tunnel) {
        for (int attempt = 0; attempt < 3; attempt++) {
            if (gateway.names().claim(tunnel)) {
                return true;
            }
            if (gateway.names().get(tunnel.name) != null) {
                return false;
            }
        }
        return false;
    }

    /** Answers a request; counted against the control-frame limit, so a flood of requests cannot pile up. */
    private void reply(Frame frame) {
        if (mux.writeControl(frame)) {
            mux.flushLinkLater();
        }
    }

    private String registrationProblem(int registration, Requests.Register request) {
        String name = request.name();
        if (registration == Protocol.CONNECTION_ID) {
            // an answer would be Error(0), which means "connection over": say so and mean it
            throw new ProtocolException("Register with registration id 0");
        }
        if (tunnels.containsKey(registration)) {
            return "registration id " + Integer.toUnsignedString(registration) + " is already used";
        }
        String problem = Names.problem(name);
        if (problem != null) {
            gateway.metrics().authFailures.labelValues("name_invalid").inc();
            return problem;
        }
        if ((request.flags() & ~Requests.KNOWN_FLAGS) != 0) {
            return "unknown registration flags 0x" + Integer.toHexString(request.flags())
                    + " (this gateway knows 0x" + Integer.toHexString(Requests.KNOWN_FLAGS) + ")";
        }
        if (tunnels.size() >= gateway.config().maxNamesPerAgent()) {
            return "too many names on one agent (limit " + gateway.config().maxNamesPerAgent() + ")";
        }
        try {
            gateway.authenticator().authorize(principal, name);
        } catch (AccessDeniedException e) {
            gateway.metrics().authFailures.labelValues("name_not_allowed").inc();
            return "name '" + name + "' is not allowed: " + Reasons.of(e);
        }
        return null;
    }

    private void bound(Tunnel tunnel, Channel listener, Throwable cause) {
        if (listener == null) {
            tunnels.remove(tunnel.registration);
            gateway.names().release(tunnel);
            // the gateway's problem, not the agent's: a connection error, so the agent tries again later
            fail("cannot open a public port for '" + tunnel.name + "': " + Reasons.of(cause));
        } else if (phase == Phase.CLOSED || failed()) {
            listener.close();
            gateway.names().release(tunnel);
        } else {
            tunnel.listener = listener;
            tunnel.port = ((InetSocketAddress) listener.localAddress()).getPort();
            reply(Frame.registered(ctx.alloc(), tunnel.registration, tunnel.port, gateway.urls(tunnel)));
        }
        if (finishRequested && pendingBinds == 0) {
            finish();
        }
    }

    private void finish() {
        if (failed()) {
            return;
        }
        if (pendingBinds > 0) {
            finishRequested = true;
            return;
        }
        finishRequested = false;
        if (phase != Phase.REGISTER || exposing) {
            return;
        }
        if (tunnels.isEmpty()) {
            fail("registration finished without any name registered");
            return;
        }
        exposing = true;
        List<CompletableFuture<Void>> stages = new ArrayList<>();
        for (Tunnel tunnel : tunnels.values()) {
            tunnel.exposure = new Registrar.Exposure(tunnel.name, tunnel.port, peer(), principal);
            CompletableFuture<Void> stage;
            try {
                stage = gateway.registrar().register(tunnel.exposure).toCompletableFuture();
            } catch (RuntimeException e) {
                stage = CompletableFuture.failedFuture(e);
            }
            stages.add(stage);
        }
        CompletableFuture.allOf(stages.toArray(CompletableFuture[]::new))
                .whenComplete((ignored, error) -> ctx.executor().execute(() -> exposed(stages)));
    }

    /** The registrar is done with every name: go live, or undo what was exposed and say why. */
    private void exposed(List<CompletableFuture<Void>> stages) {
        exposing = false;
        List<Tunnel> all = new ArrayList<>(tunnels.values());
        String failure = null;
        for (int i = 0; i < all.size() && i < stages.size(); i++) {
            if (stages.get(i).isCompletedExceptionally() && failure == null) {
                Throwable cause = stages.get(i).handle((v, e) -> e).join();
                while (cause instanceof java.util.concurrent.CompletionException && cause.getCause() != null) {
                    cause = cause.getCause();
                }
                failure = "exposing '" + all.get(i).name + "' failed: " + Reasons.of(cause);
            }
        }
        if (failure != null || failed() || phase != Phase.REGISTER) {
            for (int i = 0; i < all.size() && i < stages.size(); i++) {
                if (!stages.get(i).isCompletedExceptionally()) {
                    unexpose(all.get(i));
                }
            }
            if (failure != null) {
                fail(failure); // the gateway's trouble, not the agent's: it may try again later
            }
            return;
        }
        for (Tunnel tunnel : all) {
            tunnel.since = gateway.clock.instant();
            tunnel.live = true;
            log.info("register domain '{}' -> '{}'", tunnel.name, tunnel.port);
            tunnel.listener.config().setAutoRead(true);
        }
        phase = Phase.ACTIVE;
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        ctx.pipeline().addBefore(HandlerNames.SESSION, HandlerNames.KEEPALIVE,
                new Heartbeat(gateway.config().limits().heartbeat()));
        ctx.writeAndFlush(Frame.ok(Protocol.CONNECTION_ID));
    }

    // ---------------------------------------------------------------- streams

    /** A public client connected to {@code tunnel}'s listener. Runs on this link's event loop. */
    void accept(Tunnel tunnel, Channel client) {
        if (open(tunnel, client, Stream.TCP) == null) {
            client.close();
        }
    }

    /**
     * Opens a stream of {@code tunnel} for {@code client}, a connection the ingress accepted (possibly on
     * another event loop) and routed by its Host header or TLS server name. Runs on this link's event loop.
     *
     * @return the stream, or {@code null} when the agent cannot take it now (the caller answers the client)
     */
    Stream openIngress(Tunnel tunnel, Channel client, Stream.LocalEnd end) {
        return open(tunnel, client, end);
    }

    /** Why this link takes no new stream now, or {@code null} if it does. */
    String busy() {
        if (phase != Phase.ACTIVE || failed() || draining || !ctx.channel().isActive()) {
            return "the agent is not connected";
        }
        if (mux.size() >= gateway.config().maxStreamsPerAgent()) {
            return mux.size() + " streams open, the limit";
        }
        return null;
    }

    private Stream open(Tunnel tunnel, Channel client, Stream.LocalEnd end) {
        String busy = busy();
        if (busy != null) {
            log.warn("name={} client={} refused: {}", tunnel.name, client.remoteAddress(), busy);
            return null;
        }
        int id = nextStreamId();
        Stream stream = mux.create(id, tunnel.name,
                tunnel.stats.newStream(gateway.nanoClock, gateway.metrics().streamOpenSeconds::observe));
        stream.attach(client, end);
        if (stream.state() == StreamState.CLOSED) {
            return stream;
        }
        log.debug("stream={} name={} client={} opening", Integer.toUnsignedString(id), tunnel.name,
                client.remoteAddress());
        mux.write(Requests.Open.of(tunnel.registration, mux.receiveWindow(), client.remoteAddress(),
                client.localAddress()).encode(ctx.alloc(), id, version()));
        mux.flushLinkLater();
        return stream;
    }

    private int nextStreamId() {
        int id;
        do {
            id = nextStreamId++;
        } while (id == Protocol.CONNECTION_ID || mux.contains(id));
        return id;
    }

    private void streamOpened(Frame frame) {
        Stream stream = mux.get(frame.id());
        if (stream == null) {
            return;
        }
        stream.opened(Requests.Opened.decode(frame).window());
    }

    private void streamRefused(Frame frame) {
        String reason = Signals.Reason.decode(frame).text();
        if (frame.id() == Protocol.CONNECTION_ID) {
            log.warn("agent {} reported an error: {}", peer(), reason);
            ctx.close();
            return;
        }
        Stream stream = mux.get(frame.id());
        if (stream != null) {
            log.info("stream={} refused by the agent: {}", Integer.toUnsignedString(frame.id()), reason);
            stream.reset(reason, false);
        }
    }

    // ---------------------------------------------------------------- end

    /**
     * The authenticator changed its mind (token file edited): every name this agent holds is authorized
     * again, and the agent is sent away with the reason if one is no longer allowed.
     */
    void reauthorize() {
        if (principal == null || phase == Phase.CLOSED || failed()) {
            return;
        }
        for (Tunnel tunnel : tunnels.values()) {
            try {
                gateway.authenticator().authorize(principal, tunnel.name);
            } catch (AccessDeniedException e) {
                log.warn("agent {}: authorization for '{}' withdrawn ({}), closing its tunnels", peer(), tunnel.name,
                        Reasons.of(e));
                gateway.metrics().authFailures.labelValues("withdrawn").inc();
                refuse("authorization for '" + tunnel.name + "' withdrawn: " + Reasons.of(e));
                return;
            }
        }
    }

    @Override
    protected void onClosed() {
        phase = Phase.CLOSED;
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        for (Tunnel tunnel : tunnels.values()) {
            if (tunnel.listener != null) {
                tunnel.listener.close();
            }
            gateway.names().release(tunnel);
        }
        for (Tunnel tunnel : tunnels.values()) {
            if (tunnel.live) {
                tunnel.live = false;
                log.info("unregister domain '{}'", tunnel.name);
                unexpose(tunnel);
            }
        }
        tunnels.clear();
        log.debug("agent {} disconnected", peer());
        closed.trySuccess(null);
    }

    /**
     * The gateway is shutting down: stop accepting public connections, tell the agent (Terminate), and let the
     * agent close the link once its open streams have finished, as it does on a Terminate. The gateway keeps
     * reading meanwhile and closes the link itself only if the agent has not done so {@link #TERMINATE_GRACE}
     * after the streams ended (and {@link Gateway#close} closes it after the drain timeout).
     *
     * <p>Closing right after the Terminate was written, as the gateway did before, races with whatever the agent
     * sends meanwhile (a Ping, a Pong, stream frames): a close with unread input makes the kernel reset the
     * connection instead of ending it, which throws away what the gateway had not sent yet (on a slow link, the
     * Terminate itself) and reaches the agent as a reset; the agent then reports a lost link ("the connection to
     * the gateway closed") instead of the gateway's reason.
     */
    void drain(String reason) {
        for (Tunnel tunnel : tunnels.values()) {
            if (tunnel.listener != null) {
                tunnel.listener.close();
            }
        }
        if (failed() || !ctx.channel().isActive() || phase == Phase.HANDSHAKE) {
            // nothing to tell: before our handshake reply a frame would break the protocol
            ctx.close();
            return;
        }
        draining = true;
        ChannelFuture told = ctx.writeAndFlush(Frame.terminate(ctx.alloc(), reason));
        mux.whenEmpty(() -> told.addListener(f -> {
            if (!f.isSuccess()) {
                ctx.close();
                return;
            }
            ctx.executor().schedule(() -> {
                if (ctx.channel().isOpen()) {
                    log.info("agent {} did not close its link within {} ms of the end of its streams; closing it",
                            peer(), TERMINATE_GRACE.toMillis());
                    ctx.close();
                }
            }, TERMINATE_GRACE.toMillis(), TimeUnit.MILLISECONDS);
        }));
    }

    private void unexpose(Tunnel tunnel) {
        try {
            gateway.registrar().unregister(tunnel.exposure);
        } catch (RuntimeException e) {
            log.error("registrar failed to unregister '{}'", tunnel.name, e);
        }
    }

    /** Completes when the link is closed and its names are released. */
    Future<Void> closeFuture() {
        return closed;
    }


}
