package io.diglett.agent;

import io.diglett.common.transport.Fingerprint;
import io.diglett.common.transport.Transport;
import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Handshake;
import io.diglett.protocol.Joining;
import io.diglett.protocol.Names;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.Reasons;
import io.diglett.protocol.Requests;
import io.diglett.protocol.Signals;
import io.diglett.common.Version;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Heartbeat;
import io.diglett.protocol.mux.FlowLimits;
import io.diglett.protocol.mux.LinkSession;
import io.diglett.protocol.mux.Stream;
import io.diglett.protocol.mux.StreamState;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.security.cert.CertificateException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's end of one link. Phases: handshake, login, registration (one Register per name, then
 * FinishRegister), active; or, for a further link of the agent's session (protocol version 5), handshake, join
 * (Join, the gateway's Challenge, our Proof), active. In the active phase each Open from the gateway connects the
 * backend at once, so a backend that speaks first is heard; Ok goes back when it is connected, Error when it is not.
 */
final class AgentSession extends LinkSession {

    private static final Logger log = LoggerFactory.getLogger(AgentSession.class);

    enum Phase { HANDSHAKE, LOGIN, JOIN, PROOF, REGISTER, FINISH, ACTIVE, CLOSED }

    /** A tunnel of this link: its registration id, spec and resolved backend. */
    record Target(int registration, TunnelSpec spec, InetSocketAddress backend) {
    }

    private final AgentConfig config;
    private final Transport transport;
    private final Map<Integer, Target> targets = new HashMap<>();
    private final List<Registration> registered = new ArrayList<>();
    private final CompletableFuture<List<Registration>> online;
    private final CompletableFuture<LinkEnd> ended;
    private final boolean inUseMayBeOurs;
    /** This agent process's instance id, sent at login: the gateway hands our names over to us at once. */
    private final java.util.UUID instance;
    private Phase phase = Phase.HANDSHAKE;
    private Bootstrap backends;
    private int pendingConnects;
    /** Opens waiting for a connect slot (beyond maxPendingConnects); bounded by maxStreams, being streams. */
    private final java.util.ArrayDeque<Runnable> waitingConnects = new java.util.ArrayDeque<>();
    private String endReason;
    private boolean rejected;
    private boolean draining;
    private ScheduledFuture<?> handshakeTimer;
    /** Whether the TLS handshake succeeded (an unanswered handshake after it is not a TLS failure). */
    private boolean tlsDone;
    private final AgentStatus status;
    /** The session this link joins, or {@code null}: this link logs in and registers. */
    private final Joining.Session join;
    /** This link's entry in the status, or {@code null} (not counted per link). */
    private final AgentStatus.Link link;
    /** The session the gateway made at our Login (version 5), or {@code null}. */
    private Joining.Session session;
    /** This link's number in the gateway's session, once online. */
    private int linkNumber;
    /** What the end of a join means for the session. */
    private LinkEnd.Join joinEnd = LinkEnd.Join.NONE;

    /**
     * @param inUseMayBeOurs whether the agent lost an online link so recently that a name "already in use"
     *                  may still be held by that link, which the gateway has not yet seen die: the gateway
     *                  answers so with an Error (not a Refuse) only when neither link has a token, since a
     *                  token of its own takes the name over and another token is refused for good
     * @param instance  this agent process's instance id (docs/protocol.md, Login)
     * @param online    completed with the registrations once the tunnels are live
     * @param ended     completed, on the link's loop, with how the link ended
     */
    AgentSession(AgentConfig config, Transport transport, List<Target> targets, boolean inUseMayBeOurs,
                 java.util.UUID instance, CompletableFuture<List<Registration>> online,
                 CompletableFuture<LinkEnd> ended, AgentStatus status, FlowLimits flow) {
        this(config, transport, targets, inUseMayBeOurs, instance, null, null, online, ended, status, flow);
    }

    /**
     * A link that joins {@code join} (protocol version 5) instead of logging in, or, with {@code null}, logs in; its
     * streams are counted in {@code link} ({@code null}: not per link). {@code online} completes with the names
     * this link registered (none for a joined link).
     */
    AgentSession(AgentConfig config, Transport transport, List<Target> targets, boolean inUseMayBeOurs,
                 java.util.UUID instance, Joining.Session join, AgentStatus.Link link,
                 CompletableFuture<List<Registration>> online, CompletableFuture<LinkEnd> ended, AgentStatus status,
                 FlowLimits flow) {
        super(config.window(), flow);
        this.join = join;
        this.link = link;
        this.instance = instance;
        this.status = status;
        this.config = config;
        this.transport = transport;
        for (Target target : targets) {
            this.targets.put(target.registration(), target);
        }
        this.inUseMayBeOurs = inUseMayBeOurs;
        this.online = online;
        this.ended = ended;
    }

    @Override
    protected boolean streamsAllowed() {
        return phase == Phase.ACTIVE;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        backends = transport.limitUnsent(new Bootstrap(), config.buffers().unsentPerSocket())
                .group(ctx.channel().eventLoop())
                .channel(transport.socketChannel())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, config.connectTimeoutMillis())
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, Stream.socketWaterMark(config.window()))
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        // the Stream handler is added once the connect succeeds
                    }
                });
        ctx.writeAndFlush(Handshake.encode(ctx.alloc())).addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
        long millis = config.handshakeTimeout().toMillis();
        handshakeTimer = ctx.executor().schedule(() -> {
            if (phase != Phase.ACTIVE && phase != Phase.CLOSED) {
                endReason = "the gateway did not finish TLS, login and registration within " + millis + " ms";
                ctx.close();
            }
        }, millis, TimeUnit.MILLISECONDS);
        ctx.fireChannelActive();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof SslHandshakeCompletionEvent done && !done.isSuccess()) {
            tlsFailed(done.cause());
            return;
        }
        if (evt instanceof SslHandshakeCompletionEvent) {
            tlsDone = true;
        }
        if (evt instanceof SslHandshakeCompletionEvent && ctx.pipeline().get(SslHandler.class) != null) {
            try {
                java.security.cert.Certificate[] peer = ctx.pipeline().get(SslHandler.class).engine().getSession()
                        .getPeerCertificates();
                status.fingerprint(Fingerprint.of((java.security.cert.X509Certificate) peer[0]).toString());
            } catch (javax.net.ssl.SSLPeerUnverifiedException | ClassCastException e) {
                log.debug("no gateway certificate to show: {}", e.toString());
            }
        }
        ctx.fireUserEventTriggered(evt);
    }

    /**
     * A TLS failure: a refused certificate (our own explanation is in it) or a gateway that does not speak
     * TLS is a rejection; anything else (a connection cut during the handshake) is worth another attempt.
     */
    private void tlsFailed(Throwable cause) {
        if (endReason != null) {
            return; // we closed it ourselves (the handshake timer), and said why
        }
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof CertificateException) {
                reject("gateway identity check failed: " + Reasons.of(t));
                return;
            }
            if (t instanceof NotSslRecordException) {
                // a gateway run with --plaintext, or something in between (a captive portal): worth retrying
                endReason = "the gateway did not answer with TLS; if it runs with --plaintext, start the agent"
                        + " with --plaintext too";
                ctx.close();
                return;
            }
            if (t instanceof java.nio.channels.ClosedChannelException
                    || (t instanceof IOException && !(t instanceof javax.net.ssl.SSLException))) {
                endReason = closedEarly("the TLS handshake finished");
                ctx.close();
                return;
            }
        }
        endReason = "TLS handshake with the gateway failed: " + Reasons.of(cause);
        ctx.close();
    }

    /**
     * Why the link ended when the gateway closed (or reset) the connection before {@code before}: the gateway
     * turns connections away before TLS when it holds as many unauthenticated connections as it allows, from
     * this address or in all (docs/security.md), or when this agent sent nothing in time.
     */
    static String closedEarly(String before) {
        return "the gateway closed the connection before " + before + " (it may be full or refusing this address)";
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (rejected || (endReason != null && !ctx.channel().isActive())) {
            return;
        }
        super.exceptionCaught(ctx, cause);
    }

    /** The agent is stopping: tell the gateway, then close. */
    void stop() {
        if (ctx.channel().isActive() && !failed()) {
            endReason = "agent stopped";
            ctx.writeAndFlush(Frame.terminate(ctx.alloc(), "agent stopping")).addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.close();
        }
    }

    @Override
    protected void onHandshake(Handshake handshake) {
        if (!handshake.compatible()) {
            reject(versionMismatch(handshake.version()));
            return;
        }
        useVersion(handshake.version());
        if (join != null) {
            if (version() < Joining.SINCE) {
                // the gateway was replaced by one of version 4 meanwhile: it knows no session
                joinEnd = LinkEnd.Join.SESSION_GONE;
                endReason = "the gateway speaks protocol version " + version() + " now: it has no session to join";
                ctx.close();
                return;
            }
            phase = Phase.JOIN;
            ctx.writeAndFlush(new Joining.Join(join.id()).encode(ctx.alloc()))
                    .addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
            return;
        }
        phase = Phase.LOGIN;
        ctx.writeAndFlush(new Requests.Login(config.token(), instance).encode(ctx.alloc(), version()))
                .addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
    }

    /** The session the gateway made at this link's Login (version 5), {@code null} for a joined or older link. */
    Joining.Session session() {
        return session;
    }

    /** The link's number in the gateway's session (1 for the link that logged in), once online. */
    int linkNumber() {
        return linkNumber;
    }

    /** The protocol version the link runs, once the handshakes agreed. */
    int protocolVersion() {
        return version();
    }

    /**
     * What the user reads when the gateway answered our handshake with another version: which side to upgrade. A
     * gateway of version 2 answers with 2 and refuses us; a newer gateway answers with its own version only when it
     * no longer serves ours.
     */
    private static String versionMismatch(int gatewayVersion) {
        if (gatewayVersion < Protocol.VERSION) {
            return "the gateway speaks protocol version " + gatewayVersion + ", older than this agent's version "
                    + Protocol.VERSION + ": upgrade the gateway to diglett-server " + Version.release()
                    + " or later (or use an agent of the gateway's release)";
        }
        return "the gateway speaks protocol version " + gatewayVersion + " and no longer serves this agent's version "
                + Protocol.VERSION + ": upgrade this agent, diglett " + Version.release()
                + ", to the gateway's release";
    }

    @Override
    protected void onFrame(Frame frame) {
        if (frame.kind() == FrameKind.REFUSE) {
            if (frame.id() != Protocol.CONNECTION_ID) {
                throw new ProtocolException("Refuse with id " + Integer.toUnsignedString(frame.id()) + ", not 0");
            }
            String reason = Signals.Reason.decode(frame).text();
            if (phase == Phase.JOIN || phase == Phase.PROOF) {
                joinRefused(reason);
            } else {
                reject(reason);
            }
            return;
        }
        if (frame.kind() == FrameKind.ERROR && frame.id() == Protocol.CONNECTION_ID) {
            // a connection error (a timeout, an overload, the gateway's own trouble): try again later
            endReason = "the gateway closed the connection: " + Signals.Reason.decode(frame).text();
            ctx.close();
            return;
        }
        if (frame.kind() == FrameKind.ERROR && phase == Phase.REGISTER) {
            String reason = Signals.Reason.decode(frame).text();
            if (Names.isInUseByLiveAgent(reason)) {
                // another agent of our token serves the name now: try again later, it gets ours once it is gone
                endReason = reason;
                ctx.close();
                return;
            }
            if (inUseMayBeOurs && Names.isInUse(reason)) {
                endReason = reason + " (still held by our previous connection?)";
                ctx.close();
                return;
            }
            if (reason.startsWith("unknown registration flags")) {
                // a gateway older than this agent: say which of our options it does not know
                reason += "; the gateway is older than this agent: upgrade it to " + Version.release()
                        + " or later, or leave out raw=on (--raw-port)";
            }
            reject(reason); // this name is refused: invalid, not allowed, or another agent's
            return;
        }
        if (frame.kind() == FrameKind.ERROR && phase == Phase.ACTIVE) {
            withdrawn(frame.id(), Signals.Reason.decode(frame).text());
            return;
        }
        if (frame.kind() == FrameKind.NOTICE && phase == Phase.ACTIVE && version() >= Signals.Notice.SINCE) {
            noticed(frame);
            return;
        }
        if (frame.kind() == FrameKind.TERMINATE) {
            // The gateway is going away: finish what is open, then close; the agent reconnects.
            endReason = "the gateway ended the session: " + Signals.Reason.decode(frame).text();
            draining = true;
            mux.whenEmpty(ctx::close);
            return;
        }
        switch (phase) {
            case JOIN -> {
                expect(frame, FrameKind.CHALLENGE);
                phase = Phase.PROOF;
                ctx.writeAndFlush(Joining.Proof.of(join, Joining.Challenge.decode(frame)).encode(ctx.alloc()))
                        .addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
            }
            case PROOF -> {
                expect(frame, FrameKind.OK);
                linkNumber = Joining.Joined.decode(frame).link();
                goActive();
                online.complete(List.of());
            }
            case LOGIN -> {
                expect(frame, FrameKind.OK);
                session = Joining.Session.decode(frame, version());
                linkNumber = 1;
                phase = Phase.REGISTER;
                for (Target target : targets.values()) {
                    io.diglett.protocol.Policy policy = target.spec().policy();
                    if (!policy.none() && version() < io.diglett.protocol.Policy.SINCE) {
                        // never expose a name without the policy it asks for
                        reject("'" + target.spec().name() + "' has a visitor policy (--allow-cidr, --deny-cidr,"
                                + " --rate-limit, --request-header, ...), which this gateway (protocol version " + version() + ") cannot"
                                + " enforce: upgrade it to diglett-server " + Version.release() + " or later");
                        return;
                    }
                    if (!policy.none()) {
                        ctx.write(policy.encode(ctx.alloc(), target.registration()))
                                .addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
                    }
                    ctx.write(Frame.register(ctx.alloc(), target.registration(), target.spec().name(),
                                    target.spec().registerFlags()))
                            .addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
                }
                ctx.flush();
            }
            case REGISTER -> {
                expect(frame, FrameKind.OK);
                registered(frame);
            }
            case FINISH -> {
                expect(frame, FrameKind.OK);
                goActive();
                online.complete(List.copyOf(registered));
            }
            case ACTIVE -> {
                expect(frame, FrameKind.OPEN);
                open(frame);
            }
            default -> throw new ProtocolException("unexpected " + frame.kind() + " frame in phase " + phase);
        }
    }

    /** The link carries streams from now on, with a heartbeat. */
    private void goActive() {
        phase = Phase.ACTIVE;
        handshakeTimer.cancel(false);
        ctx.pipeline().addBefore(HandlerNames.SESSION, HandlerNames.KEEPALIVE, new Heartbeat(config.heartbeat()));
    }

    /**
     * The gateway refused this link's join: an unknown session (it ended, or the gateway restarted) makes the
     * agent log in anew; anything else (the session's link limit) gives this link up. Neither stops the agent.
     */
    private void joinRefused(String reason) {
        joinEnd = reason.startsWith("cannot join: unknown session") ? LinkEnd.Join.SESSION_GONE
                : LinkEnd.Join.REFUSED;
        endReason = "the gateway refused to join this link to the session: " + reason;
        ctx.close();
    }

    private void expect(Frame frame, FrameKind kind) {
        if (frame.kind() != kind) {
            throw new ProtocolException("expected " + kind + " in phase " + phase + ", got " + frame.kind());
        }
    }

    private void registered(Frame frame) {
        Target target = targets.get(frame.id());
        if (target == null || registered.stream().anyMatch(r -> r.name().equals(target.spec().name()))) {
            throw new ProtocolException("unexpected Ok for registration " + Integer.toUnsignedString(frame.id()));
        }
        Requests.Registered answer = Requests.Registered.decode(frame);
        registered.add(new Registration(target.spec().name(), answer.port(), answer.urls()));
        if (registered.size() == targets.size()) {
            phase = Phase.FINISH;
            ctx.writeAndFlush(Frame.finishRegister()).addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
        }
    }

    /**
     * An Error for one of our registrations once active (version 4): the gateway gave that name to another link of
     * our token (it found this link silent, or it is our own newer link). The other names stay; this one gets no
     * more connections.
     */
    private void withdrawn(int registration, String reason) {
        Target target = targets.get(registration);
        if (target == null) {
            throw new ProtocolException("Error for unknown registration " + Integer.toUnsignedString(registration));
        }
        registered.removeIf(r -> r.name().equals(target.spec().name()));
        log.warn("the gateway withdrew '{}': {}", target.spec().name(), reason);
        status.withdrawn(target.spec().name(), reason);
    }

    /** A Notice (version 6): the gateway's word on where one of our names stands, for the status and the log. */
    private void noticed(Frame frame) {
        Target target = targets.get(frame.id());
        if (target == null) {
            throw new ProtocolException("Notice for unknown registration " + Integer.toUnsignedString(frame.id()));
        }
        Signals.Notice notice = Signals.Notice.decode(frame);
        if (notice.topic() == Signals.Notice.CERTIFICATE) {
            if (!notice.text().equals(status.certificate(target.spec().name()))) {
                log.info("certificate of '{}': {}", target.spec().name(), notice.text());
            }
            status.certificate(target.spec().name(), notice.text());
        } else {
            log.debug("notice {} for '{}' ignored: {}", notice.topic(), target.spec().name(), notice.text());
        }
    }

    /** The gateway refused us: remember why, close, and do not retry. */
    private void reject(String reason) {
        if (rejected) {
            return;
        }
        rejected = true;
        endReason = reason;
        online.completeExceptionally(new RejectedException(reason));
        ctx.close();
    }

    // ---------------------------------------------------------------- streams

    private void open(Frame frame) {
        int id = frame.id();
        if (id == Protocol.CONNECTION_ID) {
            throw new ProtocolException("Open with stream id 0");
        }
        Requests.Open open = Requests.Open.decode(frame);
        Target target = targets.get(open.registration());
        if (target == null) {
            throw new ProtocolException("Open for unknown registration "
                    + Integer.toUnsignedString(open.registration()));
        }
        String busy = mux.size() >= config.maxStreams() ? mux.size() + " streams open" : null;
        if (busy == null && draining) {
            busy = "the session is ending";
        }
        if (busy != null) {
            log.warn("stream={} name={} refused: {}", Integer.toUnsignedString(id), target.spec().name(), busy);
            if (mux.writeControl(Frame.error(ctx.alloc(), id, "agent busy: " + busy))) {
                mux.flushLinkLater();
            }
            return;
        }
        String client = open.client() == null ? "unknown" : Requests.address(open.client());
        Stream stream = mux.create(id, target.spec().name(), status.newStream(target.spec().name(), client, link));
        Runnable connect = () -> connect(stream, target, open, client);
        if (pendingConnects >= config.maxPendingConnects()) {
            // a burst of clients: they wait for a connect slot (their streams count against maxStreams)
            waitingConnects.add(connect);
        } else {
            connect.run();
        }
    }

    /**
     * The kernel receive buffer of a backend connection: the stream's send window, what the agent may read
     * ahead of the gateway's credit anyway. Left to autotuning, a backend socket that the agent stopped reading
     * (its client reads nothing) keeps the receive buffer it grew to while the first window went out, and the
     * backend's send buffer grows with it: 3,000 clients that asked for a large file and never read pinned about
     * 0.2 GB in the agent's sockets and 1 GB in the backend's, past the kernel's TCP memory pressure mark, where
     * every socket of the host is clamped, the link included. Fixed at the window, the backend is never
     * allowed more in flight than the gateway has granted; the backend hop is local, so that covers its round
     * trip many times over.
     */
    static int backendReceiveBuffer(int window) {
        return Math.max(Protocol.MIN_WINDOW, window);
    }

    private void connect(Stream stream, AgentSession.Target target, Requests.Open open, String client) {
        if (stream.state() == StreamState.CLOSED) {
            startWaitingConnect(); // reset by the gateway while it waited
            return;
        }
        log.debug("stream={} name={} client={} connecting {}", Integer.toUnsignedString(stream.id()),
                target.spec().name(), client, target.spec().backend());
        pendingConnects++;
        ChannelFuture connect = backends.clone()
                .option(ChannelOption.SO_RCVBUF, backendReceiveBuffer(open.window()))
                .connect(target.backend());
        connect.addListener(f -> {
            pendingConnects--;
            connected(stream, target, open, connect);
            startWaitingConnect();
        });
    }

    private void startWaitingConnect() {
        Runnable next;
        while (pendingConnects < config.maxPendingConnects() && phase != Phase.CLOSED
                && (next = waitingConnects.poll()) != null) {
            next.run();
        }
    }

    private void connected(Stream stream, Target target, Requests.Open open, ChannelFuture connect) {
        int id = stream.id();
        if (!connect.isSuccess()) {
            String reason = "backend " + target.spec().backend() + " unreachable: " + Reasons.of(connect.cause());
            log.info("stream={} name={} {}", Integer.toUnsignedString(id), target.spec().name(), reason);
            if (stream.state() != StreamState.CLOSED) {
                stream.reset(reason, false);
                if (mux.writeControl(Frame.error(ctx.alloc(), id, reason))) {
                    mux.flushLinkLater();
                }
            }
            return;
        }
        Channel backend = connect.channel();
        if (stream.state() == StreamState.CLOSED) {
            backend.close();
            return;
        }
        if (!mux.writeControl(Frame.opened(ctx.alloc(), id, stream.window()))) {
            backend.close();
            return;
        }
        mux.flushLinkLater();
        if (target.spec().proxyProtocol() != TunnelSpec.ProxyProtocol.NONE) {
            // the backend's first bytes: who the client really is (not counted against any window)
            ProxyHeader.write(backend, target.spec().proxyProtocol(), open.client(), open.destination());
        }
        stream.attach(backend);
        if (stream.state() == StreamState.OPENING) {
            stream.opened(open.window());
        }
    }

    // ---------------------------------------------------------------- end

    @Override
    protected void onClosed() {
        if (endReason == null && phase == Phase.HANDSHAKE) {
            endReason = closedEarly(ctx.pipeline().get(SslHandler.class) != null && !tlsDone
                    ? "the TLS handshake finished" : "answering the protocol handshake");
        }
        phase = Phase.CLOSED;
        waitingConnects.clear(); // their streams were reset with the link
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        String reason = endReason != null ? endReason : "the connection to the gateway closed";
        if (!online.isDone()) {
            online.completeExceptionally(rejected ? new RejectedException(reason) : new IOException(reason));
        }
        ended.complete(new LinkEnd(reason, rejected, joinEnd));
    }

    @Override
    protected void fail(String reason) {
        if (endReason == null) {
            endReason = "protocol error: " + reason;
        }
        super.fail(reason);
    }
}
