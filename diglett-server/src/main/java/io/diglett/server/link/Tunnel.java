package io.diglett.server.link;

import io.diglett.protocol.mux.Stream;
import io.diglett.server.registrar.Registrar;
import io.netty.channel.Channel;
import java.time.Instant;
import java.util.function.Consumer;

/**
 * A name registered by an agent: what the rest of the gateway may ask of it (its figures, whether it is live, a
 * new stream for a client) and nothing more. Its state is written only by its agent's session ({@link LinkGroup}),
 * on the session's home loop; the volatile parts are read from any thread (ingress, admin, metrics).
 */
public final class Tunnel implements StreamTarget {
    private final String name;
    private final int registration;
    private final LinkGroup group;
    private final boolean tlsPassthrough;
    private final boolean rawPort;
    private final TunnelStats stats = new TunnelStats();
    /** The public listener, once bound; link loop only. */
    private Channel listener;
    /** The claim on the name, once granted; link loop only. */
    private NameClaim claim;
    /** Its fencing number, for any thread (0 before the claim). */
    private volatile long fence;
    private volatile int port;
    private volatile java.util.List<String> urls = java.util.List.of();
    private volatile Registrar.Exposure exposure;
    private volatile Instant since;
    private volatile boolean live;
    private volatile VisitorPolicy visitors = VisitorPolicy.OPEN;
    /** The policy its agent asked for (before the operator's narrowing). */
    private volatile io.diglett.protocol.Policy agentPolicy = io.diglett.protocol.Policy.NONE;

    Tunnel(String name, int registration, LinkGroup group, boolean tlsPassthrough) {
        this(name, registration, group, tlsPassthrough, true);
    }

    Tunnel(String name, int registration, LinkGroup group, boolean tlsPassthrough, boolean rawPort) {
        this.name = name;
        this.registration = registration;
        this.group = group;
        this.tlsPassthrough = tlsPassthrough;
        this.rawPort = rawPort;
    }

    /** The registered name. */
    public String name() {
        return name;
    }

    @Override
    public VisitorPolicy visitors() {
        return visitors;
    }

    /** The policy its agent asked for. */
    io.diglett.protocol.Policy agentPolicy() {
        return agentPolicy;
    }

    void agentPolicy(io.diglett.protocol.Policy policy) {
        this.agentPolicy = policy == null ? io.diglett.protocol.Policy.NONE : policy;
    }

    /** Its visitor policy in force: set before it is bound, replaced when the operator's changes. */
    void visitors(VisitorPolicy policy) {
        this.visitors = policy;
    }

    /** The fencing number of this tunnel's claim on its name (0 before it is granted); any thread. */
    public long fence() {
        return fence;
    }

    /**
     * The event loop of the agent link a new connection would go on now (the one with the fewest streams), or
     * {@code null} without one: a connection accepted elsewhere (a forwarded one) is moved there, so that its
     * stream runs on its own loop.
     */
    public io.netty.channel.EventLoop quietestLinkLoop() {
        if (group == null) {
            return null;
        }
        GatewaySession best = null;
        for (GatewaySession link : group.links()) {
            if (link.takesStreams() && (best == null || link.assigned() < best.assigned())) {
                best = link;
            }
        }
        return best == null ? null : best.eventLoop();
    }

    /**
     * Whether the agent holding this name is alive: {@code true} as soon as one of its links hears anything
     * within its liveness deadline (a Ping is sent), {@code false} when none does. Any thread.
     */
    public java.util.concurrent.CompletionStage<Boolean> agentAlive() {
        return group == null ? java.util.concurrent.CompletableFuture.completedFuture(false)
                : group.alive(group.livenessDeadline());
    }

    /** SHA-256 of the login token of the agent that holds it, or {@code null} (no token, or no agent). */
    public byte[] ownerTokenDigest() {
        return group == null ? null : group.tokenDigest();
    }

    /** The instance id of the agent that holds it, or {@code null} (an agent that sends none, or no agent). */
    public java.util.UUID ownerInstance() {
        return group == null ? null : group.instance();
    }

    /** The public port, or 0 before the listener is bound and for a name without a raw port. */
    public int port() {
        return port;
    }

    /** Its URLs on the ingress, HTTPS first, once bound; empty without an ingress. */
    public java.util.List<String> urls() {
        return urls;
    }

    /** Whether the HTTPS ingress forwards the client's TLS untouched (the backend terminates it). */
    public boolean tlsPassthrough() {
        return tlsPassthrough;
    }

    /**
     * Whether it has a raw public port of its own: always without the ingress, with it only if its agent asked
     * ({@link io.diglett.protocol.Requests#FLAG_RAW_PORT}); otherwise the ingress is the only way in.
     */
    public boolean rawPort() {
        return rawPort;
    }

    /** Whether it is exposed and accepts connections. */
    public boolean live() {
        return live;
    }

    /** When it went live, or {@code null}. */
    public Instant since() {
        return since;
    }

    /** What the registrar is (or was) asked to expose: name, port, agent, principal; {@code null} before. */
    public Registrar.Exposure exposure() {
        return exposure;
    }

    /** Streams, connections and bytes. */
    public TunnelStats stats() {
        return stats;
    }

    /**
     * Opens a stream of this tunnel for {@code client}, a connection accepted elsewhere (the ingress, possibly
     * on another event loop) and routed here; {@code end} is told what the stream needs of the client's side.
     * The stream goes on the agent's link with the fewest streams, or on one on the client's own loop while it
     * has about as few ({@link LinkGroup#place}), and runs on that link's event loop; {@code done}
     * is called, on that loop or at once, with {@code null} when the stream is open, or with why the agent cannot
     * take it now (the caller answers the client).
     */
    @Override
    public void openStream(Channel client, Stream.LocalEnd end, Consumer<String> done) {
        GatewaySession link = group.pick(client.eventLoop());
        if (link == null) {
            group.refused(this, client);
            done.accept(group.busy());
            return;
        }
        link.executor().execute(() -> done.accept(link.open(this, client, end) == null ? group.busy() : null));
    }

    /**
     * The links carrying this name's streams now: their numbers in the agent's session and how many streams each
     * has open (all of the agent's names share its links).
     */
    public java.util.List<LinkFigures> links() {
        java.util.List<LinkFigures> figures = new java.util.ArrayList<>();
        if (group == null) {
            return figures; // a tunnel of a unit test, without an agent
        }
        for (GatewaySession link : group.links()) {
            figures.add(new LinkFigures(link.linkNumber(), link.agent(), link.streams()));
        }
        return figures;
    }

    /**
     * Tells the name's agent where its HTTPS certificate stands ({@code text}), from any thread; agents before
     * protocol version 6 are told nothing.
     */
    public void noticeCertificate(String text) {
        group.notice(registration, new io.diglett.protocol.Signals.Notice(
                io.diglett.protocol.Signals.Notice.CERTIFICATE, text));
    }

    /** One link of an agent's session: its number (1: the one it logged in on), its address, its streams. */
    public record LinkFigures(int number, String agent, int streams) {
    }

    // ---------------------------------------------------------------- the owning session's side

    LinkGroup group() {
        return group;
    }

    /** Where the listener registers the connections it accepts ({@link LinkLoops}). */
    io.netty.channel.EventLoopGroup connectionLoops() {
        return group.connectionLoops();
    }

    int registration() {
        return registration;
    }

    NameClaim claim() {
        return claim;
    }

    void claimed(NameClaim value) {
        claim = value;
        fence = value == null ? 0 : value.fence();
    }

    Channel listener() {
        return listener;
    }

    void bound(Channel value, int boundPort) {
        listener = value;
        port = boundPort;
    }

    void urls(java.util.List<String> value) {
        urls = java.util.List.copyOf(value);
    }

    void exposing(Registrar.Exposure value) {
        exposure = value;
    }

    void goLive(Instant when) {
        since = when;
        live = true;
        if (listener != null) {
            listener.config().setAutoRead(true);
        }
    }

    /** Ends its life: {@code true} if it was live (the registrar must be told). */
    boolean goDown() {
        boolean was = live;
        live = false;
        return was;
    }

    /** A public client connected to this tunnel's own listener. Runs on the client's event loop. */
    void accept(Channel client) {
        group.accept(this, client);
    }

    @Override
    public String toString() {
        return "Tunnel(" + name + ", port " + port + ")";
    }
}
