package io.diglett.server.link;

import io.diglett.common.logging.RateLimitedLog;
import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Handshake;
import io.diglett.protocol.Joining;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.Reasons;
import io.diglett.protocol.Requests;
import io.diglett.protocol.Signals;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Heartbeat;
import io.diglett.protocol.mux.LinkSession;
import io.diglett.protocol.mux.BufferBudget;
import io.diglett.protocol.mux.Stream;
import io.diglett.protocol.mux.StreamObserver;
import io.diglett.protocol.mux.StreamState;
import io.diglett.server.auth.AccessDeniedException;
import io.diglett.server.auth.TokenFile;
import io.diglett.server.config.GatewayConfig;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoop;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.Promise;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's end of one agent link: its phases (handshake, then login and registration or, from version 5, a
 * join, then active), its frames and its streams. The agent's session ({@link LinkGroup}: its login, its names, its
 * other links) is made at Login or found at Join; Register and FinishRegister go to its names. In the active phase
 * each public connection the session assigns to this link becomes a stream: Open goes to the agent, and the
 * connection's reads stay paused until the agent's Ok says the backend is connected. Runs on the link's event loop.
 */
public final class GatewaySession extends LinkSession {

    private static final Logger log = LoggerFactory.getLogger(GatewaySession.class);
    /** Lines about links that ended before they were active: at most one a second, for all of them. */
    private static final RateLimitedLog HANDSHAKE_ENDS = RateLimitedLog.perSecond(log);

    /** How long a draining link may stay open after its streams ended, for the agent to close it. */
    public static final Duration TERMINATE_GRACE = Duration.ofSeconds(2);

    /** How long an agent turned away by {@code --max-agents} may take to read why before the link is closed. */
    static final Duration FULL_CLOSE_GRACE = Duration.ofSeconds(1);

    /** Longest wait for a live agent's answer before a name is taken from its link (docs/security.md). */
    public static final Duration LIVENESS_DEADLINE_CAP = Duration.ofSeconds(2);

    /** The opaque bytes of a liveness check's Ping (the heartbeat's count up from 1). */
    private static final long LIVENESS_PING = 0x6c69766520636b21L;

    /** Where a link is in its life. */
    public enum Phase { HANDSHAKE, LOGIN, JOIN, REGISTER, ACTIVE, CLOSED }

    private final LinkServices services;
    private final Registrations registrations;
    private Phase phase = Phase.HANDSHAKE;
    /** The agent's session, from Login or Join on; read from other threads. */
    private volatile LinkGroup group;
    /** This link's number in its session (1: the login's); 0 before. */
    private volatile int linkNumber;
    /** The session a Join named, and the challenge it was sent, until the Proof. */
    private java.util.UUID joining;
    private Joining.Challenge challenge;
    /** Whether public connections may be assigned to this link: active, not draining, not failed. */
    private volatile boolean takesStreams;
    /**
     * Public connections placed on this link and not ended (the session's {@link LinkGroup#place}): its streams and
     * the connections that will become its streams (still waiting for a PROXY header, or on their way here).
     */
    private final AtomicInteger assigned = new AtomicInteger();
    /** Of those, the ones counted as streams of the session ({@link LinkGroup#pick}): what figures report. */
    private final AtomicInteger streams = new AtomicInteger();
    private int nextStreamId = 1;
    private ScheduledFuture<?> handshakeTimer;
    /** SHA-256 of the login token, or null without one; read by other links' sessions for takeover. */
    private volatile byte[] tokenDigest;
    /** The agent's instance id from its Login (version 4), or null; read by other links' sessions for takeover. */
    private volatile UUID instance;
    /** A liveness check in progress: completes with true when anything arrives from the agent, false at its deadline. */
    private CompletableFuture<Boolean> probe;
    private boolean draining;
    /** Completed once the link is closed and its names released (listeners run on the global executor). */
    private final Promise<Void> closed = GlobalEventExecutor.INSTANCE.newPromise();

    public GatewaySession(LinkServices services) {
        super(services.config().get().window(), services.flow());
        this.services = services;
        this.registrations = services.registrations();
    }

    /** The agent's session, or {@code null} before Login or Join. */
    public LinkGroup group() {
        return group;
    }

    /** This link's number in its session: 1 for the link the agent logged in on, 0 before Login or Join. */
    public int linkNumber() {
        return linkNumber;
    }

    public Phase phase() {
        return phase;
    }

    private GatewayConfig config() {
        return services.config().get();
    }

    /** The link's connection. */
    Channel channel() {
        return ctx.channel();
    }

    /** The link's event loop: streams of this link run there. */
    EventExecutor executor() {
        return ctx.executor();
    }

    EventLoop eventLoop() {
        return ctx.channel().eventLoop();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        long millis = config().limits().handshakeTimeout().toMillis();
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
                if (frame.kind() == FrameKind.JOIN && version() >= Joining.SINCE) {
                    join(Joining.Join.decode(frame));
                    return;
                }
                if (frame.kind() != FrameKind.LOGIN) {
                    unexpected(frame);
                    return;
                }
                login(Requests.Login.decode(frame, version()));
            }
            case JOIN -> {
                if (frame.kind() != FrameKind.PROOF || challenge == null) {
                    unexpected(frame);
                    return;
                }
                proved(Joining.Proof.decode(frame));
            }
            case REGISTER -> {
                switch (frame.kind()) {
                    case REGISTER -> group.names().register(frame.id(), Requests.Register.decode(frame));
                    case POLICY -> {
                        if (version() < io.diglett.protocol.Policy.SINCE) {
                            unexpected(frame);
                        } else {
                            group.names().policy(frame);
                        }
                    }
                    case FINISH_REGISTER -> group.names().finish();
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
            case CLOSED -> {
                // turned away at Login (gateway full): what the agent sent after it is not read
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
                    case HANDSHAKE -> ctx.pipeline().get(SslHandler.class) == null
                            && ctx.pipeline().get(HandlerNames.TLS_DETECT) != null ? "not_tls" : "handshake";
                    case LOGIN -> "login";
                    case JOIN -> "join";
                    default -> "registration";
                };
        services.events().handshakeFailed(stage);
    }

    /** The link failed or closed: nothing more is answered. */
    boolean over() {
        return phase == Phase.CLOSED || failed();
    }

    @Override
    protected void fail(String reason) {
        countHandshakeFailure(reason);
        stopTakingStreams();
        super.fail(reason);
    }

    /** The session fails or refuses all its links: this one, on its own loop. */
    void failFromGroup(String reason, boolean refuse) {
        Runnable end = () -> {
            if (over()) {
                return;
            }
            if (refuse) {
                refuse(reason);
            } else {
                fail(reason);
            }
        };
        if (ctx.executor().inEventLoop()) {
            end.run();
        } else {
            ctx.executor().execute(end);
        }
    }

    /**
     * Links that end before they are active are anyone's on the internet (garbage, a refused token, a timeout):
     * their lines are limited to one a second, with the count left out, so a loop of bad logins cannot flood the
     * log. An active agent's link ends with a line of its own.
     */
    @Override
    protected void logEnd(String reason) {
        if (phase == Phase.ACTIVE) {
            super.logEnd(reason);
        } else {
            HANDSHAKE_ENDS.warn("closing link {} before it was active: {}", peer(), reason);
        }
    }

    @Override
    protected void refuse(String reason) {
        countHandshakeFailure(reason);
        stopTakingStreams();
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

    private void login(Requests.Login request) {
        String token = request.token();
        String principal;
        try {
            principal = registrations.authenticator().authenticate(token);
        } catch (AccessDeniedException e) {
            services.events().refused("login_refused");
            if (e.temporary()) {
                fail("login refused for now: " + Reasons.of(e)); // an Error: the agent tries again later
            } else {
                refuse("login refused: " + Reasons.of(e));
            }
            return;
        }
        tokenDigest = token.isEmpty() ? null : TokenFile.sha256(token);
        instance = request.instance();
        LinkGroup made = services.groups().create(this, services);
        group = made; // a gateway too full for it: it ends with this link, as every session ends with its last
        String full = PreLoginGuard.loggedIn(ctx.pipeline(), made.endFuture());
        if (full != null) {
            gatewayFull(full);
            return;
        }
        made.names().loggedIn(principal);
        linkNumber = LinkGroup.FIRST_LINK;
        phase = Phase.REGISTER;
        log.debug("agent {} logged in", peer());
        ctx.writeAndFlush(made.loggedIn(ctx.alloc(), version()));
    }

    // ---------------------------------------------------------------- joining a session (version 5)

    /** A Join: the agent will prove it holds the session's key, on a challenge made for this link alone. */
    private void join(Joining.Join request) {
        joining = request.session();
        challenge = Joining.Challenge.random();
        phase = Phase.JOIN;
        ctx.writeAndFlush(challenge.encode(ctx.alloc()));
    }

    /**
     * The agent's Proof. An unknown session and a wrong proof get the same answer, so the gateway tells nobody
     * which sessions exist; a session that is there takes the link unless it is at its link limit.
     */
    private void proved(Joining.Proof proof) {
        Joining.Challenge asked = challenge;
        challenge = null; // one proof per challenge
        LinkGroup session = services.groups().find(joining);
        if (!proof.proves(services.groups().key(joining), joining, asked) || session == null) {
            services.events().refused("join_refused");
            refuse(LinkGroup.UNKNOWN_SESSION);
            return;
        }
        group = session; // from now on this link's end is the session's business (see onClosed)
        session.join(this, answer -> ctx.executor().execute(() -> joined(session, answer)));
    }

    /**
     * The session answered a join: the link goes active as link {@code number}, or is refused, or fails (the
     * agent opens it again later) when the gateway could not decide now.
     */
    private void joined(LinkGroup session, LinkGroup.JoinAnswer answer) {
        if (over() || !ctx.channel().isActive()) {
            return; // closed meanwhile: onClosed told the session
        }
        if (answer.later()) {
            fail(answer.refusal());
            return;
        }
        if (answer.refusal() != null) {
            services.events().refused("join_refused");
            refuse(answer.refusal());
            return;
        }
        int number = answer.number();
        String closing = PreLoginGuard.joined(ctx.pipeline());
        if (closing != null) {
            fail(closing);
            return;
        }
        if (draining) {
            return; // the gateway drains: the agent was told (Terminate) and closes the link
        }
        mux.shareLinkBudget(session.share());
        linkNumber = number;
        goActive();
        session.linkActive(this);
        services.events().linkJoined();
        log.info("agent {} joined link {} to its session (agent {})", peer(), number, session.agent());
        ctx.writeAndFlush(new Joining.Joined(number).encode(ctx.alloc()));
    }

    /**
     * {@code --max-agents} are logged in: the agent is told with an Error (it tries again later) and the link
     * closed. Counted and logged, at most once a second, by the {@link LinkAdmission}, not by {@link #fail}: a
     * crowd of agents at a full gateway must not write a line each.
     */
    private void gatewayFull(String reason) {
        phase = Phase.CLOSED;
        ctx.channel().config().setAutoRead(false);
        mux.closeAll(reason);
        ctx.writeAndFlush(Frame.error(ctx.alloc(), Protocol.CONNECTION_ID, reason))
                .addListener(ChannelFutureListener.CLOSE);
        // an agent that does not read cannot hold the link open: close regardless after a grace period
        ctx.executor().schedule(() -> {
            ctx.close();
        }, FULL_CLOSE_GRACE.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The protocol version the link runs (what the agent understands). */
    int protocolVersion() {
        return version();
    }

    /** Whether this session logged in with a non-empty token. */
    boolean hasToken() {
        return tokenDigest != null;
    }

    /** The agent's address, for log lines about this link. */
    String agent() {
        return peer();
    }

    byte[] tokenDigest() {
        return tokenDigest;
    }

    /** Whether this session logged in with the (non-empty) token whose SHA-256 is {@code digest}. */
    boolean sameToken(byte[] digest) {
        byte[] mine = tokenDigest;
        return mine != null && digest != null && MessageDigest.isEqual(mine, digest);
    }

    /** Whether this session's agent sent the instance id {@code other} at login: the same agent process. */
    boolean sameInstance(UUID other) {
        UUID mine = instance;
        return mine != null && mine.equals(other);
    }

    UUID instance() {
        return instance;
    }

    /**
     * How long a liveness check of this link's agent waits for an answer before a name of its token is taken from
     * it: the heartbeat interval, at most {@link #LIVENESS_DEADLINE_CAP}.
     */
    Duration livenessDeadline() {
        Duration heartbeat = config().limits().heartbeat();
        return heartbeat.compareTo(LIVENESS_DEADLINE_CAP) < 0 ? heartbeat : LIVENESS_DEADLINE_CAP;
    }

    /** Whether the link runs protocol {@code version} or a newer one. */
    boolean speaks(int version) {
        return version() >= version;
    }

    @Override
    protected void heard() {
        CompletableFuture<Boolean> waiting = probe;
        if (waiting != null) {
            probe = null;
            waiting.complete(true);
        }
    }

    /**
     * Whether this link's agent is alive, asked from any thread: a Ping goes out at once and the stage completes
     * with {@code true} as soon as anything arrives from the agent (its Pong, or any frame: a busy link's Pong may
     * wait behind its data), {@code false} if nothing did within {@code deadline} or the link is over. Checks asked
     * while one is in progress share it, so a flood of requests sends one Ping.
     */
    CompletionStage<Boolean> alive(Duration deadline) {
        CompletableFuture<Boolean> answer = new CompletableFuture<>();
        ctx.executor().execute(() -> {
            if (over() || !ctx.channel().isActive()) {
                answer.complete(false);
                return;
            }
            if (probe == null) {
                CompletableFuture<Boolean> check = new CompletableFuture<>();
                probe = check;
                ScheduledFuture<?> timer = ctx.executor().schedule(() -> {
                    if (probe == check) {
                        probe = null;
                    }
                    check.complete(false);
                }, deadline.toNanos(), TimeUnit.NANOSECONDS);
                check.whenComplete((v, e) -> timer.cancel(false));
                if (mux.writeControl(Frame.ping(ctx.alloc(), LIVENESS_PING))) {
                    mux.flushLinkLater();
                }
            }
            probe.whenComplete((alive, e) -> answer.complete(alive));
        });
        return answer;
    }

    /**
     * Sends a reply of the session's (an answer to a request, an Error withdrawing a name), from any thread;
     * counted against the control-frame limit, so a flood of requests cannot pile up.
     */
    void send(Frame frame) {
        Runnable write = () -> {
            if (over()) {
                frame.release();
            } else if (mux.writeControl(frame)) {
                mux.flushLinkLater();
            }
        };
        if (ctx.executor().inEventLoop()) {
            write.run();
        } else {
            ctx.executor().execute(write);
        }
    }

    /**
     * The registrar exposed every name: the link goes active and its public connections become streams. Runs on
     * this link's loop, the session's home.
     */
    void activate() {
        if (draining) {
            return; // the gateway drains: the agent was told (Terminate) and closes the link
        }
        goActive();
        group.linkActive(this);
        ctx.writeAndFlush(Frame.ok(Protocol.CONNECTION_ID));
    }

    /** The link is active: no more handshake deadline, a heartbeat from now on, and it takes streams. */
    private void goActive() {
        phase = Phase.ACTIVE;
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        ctx.pipeline().addBefore(HandlerNames.SESSION, HandlerNames.KEEPALIVE,
                new Heartbeat(config().limits().heartbeat()));
        takesStreams = true;
    }

    io.netty.buffer.ByteBufAllocator alloc() {
        return ctx.alloc();
    }

    /** This link's share of the buffer budget (the session's, once it joined one). */
    BufferBudget.Share linkShare() {
        return mux.linkShare();
    }

    // ---------------------------------------------------------------- streams

    /** Whether the session may assign public connections to this link: it is active, and neither drains nor failed. */
    boolean takesStreams() {
        return takesStreams;
    }

    private void stopTakingStreams() {
        takesStreams = false;
        LinkGroup session = group;
        if (session != null) {
            session.stopsTakingStreams(this);
        }
    }

    /** Public connections assigned to this link and not ended. */
    int assigned() {
        return assigned.get();
    }

    /** The streams on this link, open or being opened (counted against {@code --max-streams-per-agent}). */
    int streams() {
        return streams.get();
    }

    /** A connection placed on this link was counted as a stream of the session ({@link LinkGroup#pick}). */
    void charged() {
        streams.incrementAndGet();
    }

    /** A public connection was placed on this link ({@link LinkGroup#place}). */
    void assign() {
        assigned.incrementAndGet();
    }

    /** A connection placed on this link was not counted as a stream of the session and will not be here. */
    void unplace() {
        assigned.decrementAndGet();
    }

    /**
     * A connection counted as a stream of this link ({@link LinkGroup#pick}) ended, or never became a stream: the
     * link and its session count one fewer.
     */
    void unassign() {
        assigned.decrementAndGet();
        streams.decrementAndGet();
        group.streams().decrementAndGet();
    }

    /** A public client connected to {@code tunnel}'s listener and was assigned to this link. Runs on this link's loop. */
    void accept(Tunnel tunnel, Channel client) {
        if (open(tunnel, client, Stream.TCP) == null) {
            client.close();
        }
    }

    /**
     * Opens a stream of {@code tunnel} for {@code client}, assigned to this link: Open goes to the agent. Runs on this
     * link's event loop; the assignment ends with the stream.
     *
     * @return the stream, or {@code null} when this link cannot take it now (it went away since it was picked)
     */
    Stream open(Tunnel tunnel, Channel client, Stream.LocalEnd end) {
        if (phase != Phase.ACTIVE || failed() || draining || !ctx.channel().isActive()) {
            unassign();
            group.refused(tunnel, client);
            return null;
        }
        int id = nextStreamId();
        Stream stream = mux.create(id, tunnel.name(),
                new Assigned(tunnel.stats().newStream(services.nanoClock(), services.events()::streamOpened)),
                ClientConnections.Source.of(ClientAddress.remote(client)));
        stream.attach(client, end);
        if (stream.state() == StreamState.CLOSED) {
            return stream;
        }
        log.debug("stream={} name={} client={} opening", Integer.toUnsignedString(id), tunnel.name(),
                ClientAddress.remote(client));
        mux.write(Requests.Open.of(tunnel.registration(), stream.window(), ClientAddress.remote(client),
                ClientAddress.local(client)).encode(ctx.alloc(), id, version()));
        mux.flushLinkLater();
        return stream;
    }

    /** A stream's figures go to its tunnel, and its end gives its assignment back. */
    private final class Assigned implements StreamObserver {
        private final StreamObserver figures;
        private boolean ended;

        Assigned(StreamObserver figures) {
            this.figures = figures;
        }

        @Override
        public void opened() {
            figures.opened();
        }

        @Override
        public void sent(int bytes) {
            figures.sent(bytes);
        }

        @Override
        public void received(int bytes) {
            figures.received(bytes);
        }

        @Override
        public void closed(boolean clean, String reason) {
            if (!ended) {
                ended = true;
                unassign();
            }
            figures.closed(clean, reason);
        }
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

    @Override
    protected void onClosed() {
        phase = Phase.CLOSED;
        stopTakingStreams();
        CompletableFuture<Boolean> waiting = probe;
        if (waiting != null) {
            probe = null;
            waiting.complete(false);
        }
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        log.debug("agent {} disconnected", peer());
        LinkGroup session = group;
        if (session == null) {
            closed.trySuccess(null);
        } else {
            session.linkClosed(this).whenComplete((v, e) -> closed.trySuccess(null));
        }
    }

    /**
     * The gateway is shutting down: stop accepting public connections, tell the agent (Terminate), and let the
     * agent close the link once its open streams have finished, as it does on a Terminate. The gateway keeps
     * reading meanwhile and closes the link itself only if the agent has not done so {@link #TERMINATE_GRACE}
     * after the streams ended (and the gateway closes it after the drain timeout).
     *
     * <p>Closing right after the Terminate was written, as the gateway did before, races with whatever the agent
     * sends meanwhile (a Ping, a Pong, stream frames): a close with unread input makes the kernel reset the
     * connection instead of ending it, which throws away what the gateway had not sent yet (on a slow link, the
     * Terminate itself) and reaches the agent as a reset; the agent then reports a lost link ("the connection to
     * the gateway closed") instead of the gateway's reason.
     */
    public void drain(String reason) {
        stopTakingStreams();
        LinkGroup session = group;
        if (session != null) {
            session.closeListeners();
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

    /** Completes when the link is closed and, if it was its session's last, the session's names are released. */
    public Future<Void> closeFuture() {
        return closed;
    }
}
