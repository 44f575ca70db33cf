package io.diglett.server.link;

import io.diglett.protocol.Frame;
import io.diglett.protocol.Joining;
import io.diglett.protocol.mux.BufferBudget;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.Promise;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One agent's session on this gateway: the link it logged in on, the links that joined it (version 5), and what
 * they share: one login (token, instance id, principal), one set of names ({@link LinkNames}), one buffer-budget
 * share, one stream limit. Its names live as long as any of its links does, so losing a link resets only that
 * link's streams. Each public connection goes on the link with the fewest connections placed on it (its streams and
 * those about to become streams), preferring one on the connection's own loop ({@link #place}); a stream never
 * moves.
 *
 * <p>Threads: the session's own state (its names, its members) is touched on its home loop, the event loop of the
 * link it logged in on, which stays its home after that link is gone; each link runs on its own loop, and what it
 * asks of the session hops there. What any thread may read: the active links (a copy-on-write list) and their
 * counts, and the login's facts (volatile, written once).
 */
public final class LinkGroup {

    private static final Logger log = LoggerFactory.getLogger(LinkGroup.class);
    /** Public connections refused because the agent is busy: a flood of them writes one line a second. */
    private static final io.diglett.common.logging.RateLimitedLog REFUSALS =
            io.diglett.common.logging.RateLimitedLog.perSecond(log);

    /** The number of the link a session logged in on. */
    public static final int FIRST_LINK = 1;

    /**
     * How many more connections than the least busy link's a link on the connection's own loop may have and still
     * be preferred ({@link #place}); plus an eighth of the least busy link's count.
     */
    static final int AFFINITY_SLACK = 4;

    private final LinkGroups registry;
    private final UUID id;
    private final byte[] key;
    private final GatewaySession first;
    private final LinkServices services;
    private final EventLoop home;
    private final LinkNames names;
    private final BufferBudget.Share share;
    /** Where its public listeners register the connections they accept: on the loop of the link that takes them. */
    private final LinkLoops loops = new LinkLoops(this);
    /** Links that take streams, for {@link #pick}: any thread reads, home loop writes. */
    private final CopyOnWriteArrayList<GatewaySession> active = new CopyOnWriteArrayList<>();
    /** Links not closed yet, the first included (home loop). */
    private final List<GatewaySession> members = new ArrayList<>();
    private int nextLinkNumber = FIRST_LINK + 1;
    /** Public connections counted as streams of a link of this session and not ended, over all links (the stream limit). */
    private final AtomicInteger streams = new AtomicInteger();
    private volatile boolean live;
    /** Failed or refused as a whole: its links are being closed, nothing joins it and it takes no connection. */
    private volatile boolean closing;
    private volatile boolean ended;
    /** Completed when its last link closes (its {@code --max-agents} place is free then). */
    private final Promise<Void> gone = GlobalEventExecutor.INSTANCE.newPromise();
    /** Completed once every link is closed and the names are released (listeners run on the global executor). */
    private final Promise<Void> closed = GlobalEventExecutor.INSTANCE.newPromise();

    LinkGroup(LinkGroups registry, UUID id, byte[] key, GatewaySession first, LinkServices services) {
        this.registry = registry;
        this.id = id;
        this.key = key;
        this.first = first;
        this.services = services;
        this.home = first.eventLoop();
        this.names = new LinkNames(this, services);
        this.share = first.linkShare();
        members.add(first);
    }

    UUID id() {
        return id;
    }

    /** The Ok to the Login that made this session, for a link of {@code version}. */
    Frame loggedIn(ByteBufAllocator alloc, int version) {
        return new Joining.Session(id, key).encode(alloc, version);
    }

    LinkNames names() {
        return names;
    }

    /** The child group of this session's public listeners ({@link LinkLoops}). */
    io.netty.channel.EventLoopGroup connectionLoops() {
        return loops;
    }

    /** The home loop: the session's state is touched there. */
    EventExecutor executor() {
        return home;
    }

    /** The home loop, where the names' public listeners are bound. */
    EventLoop eventLoop() {
        return home;
    }

    // ---------------------------------------------------------------- the login's facts

    /** The address of the link it logged in on, for log lines. */
    String agent() {
        return first.agent();
    }

    int protocolVersion() {
        return first.protocolVersion();
    }

    boolean speaks(int version) {
        return first.speaks(version);
    }

    boolean hasToken() {
        return first.hasToken();
    }

    byte[] tokenDigest() {
        return first.tokenDigest();
    }

    boolean sameToken(byte[] digest) {
        return first.sameToken(digest);
    }

    boolean sameInstance(UUID other) {
        return first.sameInstance(other);
    }

    UUID instance() {
        return first.instance();
    }

    Duration livenessDeadline() {
        return first.livenessDeadline();
    }

    ByteBufAllocator alloc() {
        return first.alloc();
    }

    // ---------------------------------------------------------------- its life

    /** Where the session is: the first link's phase until its names are live, then ACTIVE until it ends. */
    GatewaySession.Phase phase() {
        return ended ? GatewaySession.Phase.CLOSED : live ? GatewaySession.Phase.ACTIVE : first.phase();
    }

    /**
     * The session ended (its last link closed), failed or was refused as a whole, or it is still registering and
     * its first link failed.
     */
    boolean over() {
        return ended || closing || !live && first.over();
    }

    /** The names are exposed: the first link goes active and its public connections become streams. */
    void activate() {
        live = true;
        first.activate();
    }

    /** Whether it is live: joins are allowed, public connections go to its links. */
    boolean live() {
        return live && !ended && !closing;
    }

    /** Answers a request of the agent's, on the first link while registering, later on any live link. */
    void reply(Frame frame) {
        GatewaySession to = live ? firstActive() : first;
        if (to == null) {
            frame.release();
            return;
        }
        to.send(frame);
    }

    /** Tells the agent where one of its names stands (version 6 links; older agents are told nothing). */
    void notice(int registration, io.diglett.protocol.Signals.Notice notice) {
        GatewaySession to = live ? firstActive() : first;
        if (to != null && to.speaks(io.diglett.protocol.Signals.Notice.SINCE)) {
            to.send(notice.encode(to.alloc(), registration));
        }
    }

    private GatewaySession firstActive() {
        for (GatewaySession link : active) {
            if (!link.over()) {
                return link;
            }
        }
        return null;
    }

    /** A connection error for the whole session: every link fails with {@code reason}. */
    void fail(String reason) {
        end(reason, false);
    }

    /** The agent is refused for good: every link is refused with {@code reason}. */
    void refuse(String reason) {
        end(reason, true);
    }

    /**
     * Ends the session as a whole, on the home loop: from now on it is over, so no link joins it (a link joining
     * while the others close would keep names alive that were just withdrawn) and no public connection goes to
     * it; it leaves the registry at once, and every link closes with {@code reason}.
     */
    private void end(String reason, boolean refuse) {
        if (!home.inEventLoop()) {
            home.execute(() -> end(reason, refuse));
            return;
        }
        closing = true;
        registry.ended(this);
        for (GatewaySession link : new ArrayList<>(members)) {
            link.failFromGroup(reason, refuse);
        }
    }

    /** Stops accepting public connections (the gateway drains). */
    void closeListeners() {
        home.execute(names::closeListeners);
    }

    /** The authenticator changed its mind: the names are authorized again, on the home loop. */
    public void reauthorize() {
        home.execute(names::reauthorize);
    }

    /** The registry took {@code tunnel}'s name away. */
    void lost(Tunnel tunnel, String reason) {
        names.lost(tunnel, reason);
    }

    /**
     * Whether the agent is alive, asked from any thread: {@code true} as soon as any of its links hears anything
     * within {@code deadline} (see {@link GatewaySession#alive}), {@code false} when none does.
     */
    CompletionStage<Boolean> alive(Duration deadline) {
        List<GatewaySession> links = new ArrayList<>(active);
        if (links.isEmpty()) {
            return first.alive(deadline);
        }
        CompletableFuture<Boolean> answer = new CompletableFuture<>();
        AtomicInteger silent = new AtomicInteger(links.size());
        for (GatewaySession link : links) {
            link.alive(deadline).whenComplete((alive, e) -> {
                if (Boolean.TRUE.equals(alive)) {
                    answer.complete(true);
                } else if (silent.decrementAndGet() == 0) {
                    answer.complete(false);
                }
            });
        }
        return answer;
    }

    /**
     * Takes {@code tunnel}'s name from this session, from another thread (the name goes to another agent of the same
     * token). A live session loses that name only (see {@link LinkNames#takeAway}); one still registering has
     * nothing live and is closed. Completes once the name is released.
     */
    CompletionStage<Void> takeAway(Tunnel tunnel, String reason) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        home.execute(() -> {
            if (live() && !over()) {
                names.takeAway(tunnel, reason).whenComplete((v, e) -> done.complete(null));
                return;
            }
            if (!over()) {
                fail(reason);
            }
            closed.addListener(f -> done.complete(null));
        });
        return done;
    }

    // ---------------------------------------------------------------- links

    /**
     * A link proved it belongs to this session: it joins unless the session is over, not live yet, or has as many
     * links as the limit allows, and unless the authenticator no longer allows one of its names (a join is the
     * session's login again: an authenticator that does not announce its changes is asked here at the latest).
     * Runs on the home loop; {@code answer} gets the link's number, or why it may not join.
     */
    void join(GatewaySession link, java.util.function.Consumer<JoinAnswer> answer) {
        home.execute(() -> {
            int limit = services.config().get().limits().maxLinksPerAgent();
            if (over()) {
                answer.accept(JoinAnswer.refused(UNKNOWN_SESSION));
            } else if (!live) {
                answer.accept(JoinAnswer.refused("cannot join: the session is still registering its names"));
            } else if (members.size() >= limit) {
                answer.accept(JoinAnswer.refused("cannot join: the session has " + members.size()
                        + " links, this gateway's limit (--max-links-per-agent)"));
            } else {
                LinkNames.Withdrawn withdrawn = names.withdrawn();
                if (withdrawn != null && withdrawn.reregister()) {
                    // not a joining link's business to wait on: the session ends now and the agent registers anew
                    names.withdraw(withdrawn);
                    answer.accept(JoinAnswer.later("cannot join now: " + withdrawn.reason()));
                    return;
                }
                if (withdrawn != null && withdrawn.temporary()) {
                    // the authenticator could not decide now: this link tries again later, the session stays
                    log.warn("session of agent {}: link from {} not joined now: {}", agent(), link.agent(),
                            withdrawn.reason());
                    answer.accept(JoinAnswer.later("cannot join now: " + withdrawn.reason()));
                    return;
                }
                if (withdrawn != null) {
                    names.withdraw(withdrawn); // the session is refused, and the agent with it
                    answer.accept(JoinAnswer.refused("cannot join: " + withdrawn.reason()));
                    return;
                }
                int number = nextLinkNumber++;
                members.add(link); // it takes streams once active (linkActive)
                log.debug("session of agent {}: link {} joined from {} ({} links)", agent(), number, link.agent(),
                        members.size());
                answer.accept(new JoinAnswer(number, null, false));
            }
        });
    }

    /** What a join of a session that is over is told: the agent logs in anew. */
    static final String UNKNOWN_SESSION = "cannot join: unknown session or wrong proof";

    /**
     * The session's answer to a join: the link's number, or why it may not join; {@code later} when that is a
     * passing trouble of the gateway's (the link fails, and the agent opens it again after its backoff) rather
     * than a refusal (the agent gives the link up, or logs in anew for an unknown session).
     */
    record JoinAnswer(int number, String refusal, boolean later) {

        static JoinAnswer refused(String reason) {
            return new JoinAnswer(0, reason, false);
        }

        static JoinAnswer later(String reason) {
            return new JoinAnswer(0, reason, true);
        }
    }

    /** A link went active (the first once the names are live, a joined one once it is told): it takes streams. */
    void linkActive(GatewaySession link) {
        active.addIfAbsent(link);
    }

    /** {@code link} takes no more streams (it drains, or failed); its open streams finish or are reset there. */
    void stopsTakingStreams(GatewaySession link) {
        active.remove(link);
    }

    /**
     * {@code link} closed. The last link to close ends the session: its names are released. Completes when that is
     * done (at once for a link that was not the last).
     */
    CompletionStage<Void> linkClosed(GatewaySession link) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        home.execute(() -> {
            active.remove(link);
            if (!members.remove(link) || !members.isEmpty() || ended) {
                done.complete(null);
                return;
            }
            ended = true;
            registry.ended(this);
            gone.trySuccess(null);
            names.releaseAll().whenComplete((v, e) -> {
                closed.trySuccess(null);
                done.complete(null);
            });
        });
        return done;
    }

    /**
     * The link a new public connection goes on, counted as one more stream of the session: {@link #place}, then
     * the session's stream limit; {@code null} when no link takes it or the session has
     * {@code --max-streams-per-agent} streams. The caller gives it back ({@link GatewaySession#unassign}) if the
     * connection does not become a stream; a stream gives it back when it ends.
     */
    GatewaySession pick(io.netty.channel.EventLoop near) {
        GatewaySession link = place(near);
        if (link == null) {
            return null;
        }
        if (!charge(link)) {
            link.unplace();
            return null;
        }
        return link;
    }

    /**
     * The link a public connection is placed on, its count taken at once (so a burst spreads), or {@code null} when
     * none takes it: the one with the fewest placed connections, except that a link on {@code near} (the
     * connection's own loop, when it has one) is preferred while its count is close to the fewest, so that the
     * stream runs where the connection does and no byte hops between threads. The caller gives the count back
     * ({@link GatewaySession#unplace}) if the connection does not become a stream.
     */
    GatewaySession place(io.netty.channel.EventLoop near) {
        if (ended || closing) {
            return null;
        }
        GatewaySession best = null;
        GatewaySession local = null;
        int least = Integer.MAX_VALUE;
        int localLoad = Integer.MAX_VALUE;
        for (GatewaySession link : active) {
            if (!link.takesStreams()) {
                continue;
            }
            int load = link.assigned();
            if (load < least) {
                best = link;
                least = load;
            }
            if (near != null && load < localLoad && link.eventLoop() == near) {
                local = link;
                localLoad = load;
            }
        }
        if (local != null && localLoad <= least + AFFINITY_SLACK + least / 8) {
            best = local;
        }
        if (best != null) {
            best.assign();
        }
        return best;
    }

    /**
     * Counts one more stream of {@code link}'s against {@code --max-streams-per-agent}; {@code false} (and nothing
     * counted) when full.
     */
    private boolean charge(GatewaySession link) {
        if (streams.incrementAndGet() > services.config().get().maxStreamsPerAgent()) {
            streams.decrementAndGet();
            return false;
        }
        link.charged();
        return true;
    }

    /** The buffer-budget share every link of this session holds its streams against. */
    BufferBudget.Share share() {
        return share;
    }

    /** Streams of this session's links, open or being opened: what {@code --max-streams-per-agent} bounds. */
    AtomicInteger streams() {
        return streams;
    }

    /** Why this session takes no new stream now ({@link #pick} returned nothing). */
    String busy() {
        int open = streams.get();
        int limit = services.config().get().maxStreamsPerAgent();
        return open >= limit ? open + " streams open, the limit" : "the agent is not connected";
    }

    /**
     * A public client connected to {@code tunnel}'s own listener; runs on the client's loop, which is the loop of
     * the link the connection was assigned to when it was accepted ({@link LinkLoops}), so the stream needs no hop.
     * A connection whose link went away meanwhile goes to another link (its stream then runs on that link's loop),
     * or is refused.
     */
    void accept(Tunnel tunnel, io.netty.channel.Channel client) {
        GatewaySession link = LinkLoops.assignment(client);
        if (link == null || !link.takesStreams() || closing || ended) {
            if (link != null) {
                link.unplace();
            }
            link = place(client.eventLoop()); // none once the session is closing or ended
        }
        if (link != null && !charge(link)) {
            link.unplace();
            link = null;
        }
        if (link == null) {
            refused(tunnel, client);
            client.close();
            return;
        }
        GatewaySession chosen = link;
        if (chosen.executor().inEventLoop()) {
            chosen.accept(tunnel, client);
        } else {
            chosen.executor().execute(() -> chosen.accept(tunnel, client));
        }
    }

    /** Counts and logs (at most a line a second) a public connection this session cannot take now. */
    void refused(Tunnel tunnel, io.netty.channel.Channel client) {
        String busy = busy();
        services.events().connectionRefused(busy.endsWith("the limit") ? "stream_limit" : "agent_unavailable");
        REFUSALS.warn("name={} client={} refused: {}", tunnel.name(), ClientAddress.remote(client), busy);
    }

    /** The links that take streams now, for figures. */
    public List<GatewaySession> links() {
        return List.copyOf(active);
    }

    /** Completes once every link is closed and the names are released. */
    public Future<Void> closeFuture() {
        return closed;
    }

    /** Completes when the last link closes, before its names are released: the session holds no agent place then. */
    Future<Void> endFuture() {
        return gone;
    }

    @Override
    public String toString() {
        return "LinkGroup(" + agent() + ", " + active.size() + " links)";
    }
}
