package io.diglett.server.link;

import io.diglett.protocol.Names;
import io.diglett.protocol.Reasons;
import io.diglett.server.auth.AccessDeniedException;
import io.diglett.server.auth.Authenticator;
import io.diglett.server.config.ReservedNames;
import io.diglett.server.registrar.NameRefusedException;
import io.diglett.server.registrar.Registrar;
import io.diglett.server.registrar.RegistrarException;
import io.netty.channel.Channel;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The life of a name, in one place: authorize it, claim it in the {@link NameRegistry} (taking it over from a
 * dead link of the same token), bind its public listener, have the {@link Registrar} expose it, roll back what
 * was done when a step fails, and release it all when its link ends. Agent link sessions use it for their names,
 * and a reload for moving the live names to a new registrar. Per-name steps run on the name's link loop.
 */
public final class Registrations {

    private static final Logger log = LoggerFactory.getLogger(Registrations.class);

    private final NameRegistry names;
    private final LinkEvents events;
    private final Clock clock;
    private volatile Authenticator authenticator;
    private volatile Registrar registrar;
    private volatile PublicBinder binder;
    private volatile ReservedNames reserved = ReservedNames.defaults();

    public Registrations(NameRegistry names, Authenticator authenticator, Registrar registrar,
                         PublicBinder binder, LinkEvents events, Clock clock) {
        this.names = names;
        this.authenticator = authenticator;
        this.registrar = registrar;
        this.binder = binder;
        this.events = events;
        this.clock = clock;
    }

    public NameRegistry names() {
        return names;
    }

    public Authenticator authenticator() {
        return authenticator;
    }

    public Registrar registrar() {
        return registrar;
    }

    /** Puts {@code next} in place and returns the previous one (its caller closes it). */
    public synchronized Authenticator replaceAuthenticator(Authenticator next) {
        Authenticator previous = authenticator;
        authenticator = next;
        return previous;
    }

    /** Refuses the names in {@code names} from now on (names already live stay). */
    public void reserve(ReservedNames names) {
        reserved = names;
    }

    /** The names no agent may register. */
    public ReservedNames reserved() {
        return reserved;
    }

    /** Binds public listeners with {@code next} from now on (tests drive sessions without sockets). */
    public void useBinder(PublicBinder next) {
        binder = next;
    }

    // ---------------------------------------------------------------- authorize, claim, bind

    /** Why {@code principal} may not hold {@code name} now, or {@code null} if it may. */
    String authorize(String principal, String name) {
        AccessDeniedException denied = denial(principal, name);
        return denied == null ? null : Reasons.of(denied);
    }

    /** Why {@code principal} may not hold {@code name} now, or {@code null} if it may. */
    AccessDeniedException denial(String principal, String name) {
        try {
            authenticator.authorize(principal, name);
            return null;
        } catch (AccessDeniedException e) {
            return e;
        }
    }

    /** A name refused for a reason the agent is told: {@code fatal} ones stop it, others it may retry. */
    static final class Refusal extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final boolean fatal;

        Refusal(String message, boolean fatal) {
            super(message, null, false, false);
            this.fatal = fatal;
        }
    }

    /** The public listener could not be bound: the gateway's trouble. */
    static final class BindFailure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        BindFailure(Throwable cause) {
            super(Reasons.of(cause), cause, false, false);
        }
    }

    /**
     * Claims {@code tunnel}'s name and binds its public listener; completes on the tunnel's link loop with the
     * listener, or exceptionally with a {@link Refusal} (the name is held), a {@link BindFailure}, or the
     * registry's own failure. A failed bind gives the name back; what happens to a listener that arrives after
     * its link ended is the caller's decision (see {@link #release}).
     */
    CompletionStage<Channel> claimAndBind(Tunnel tunnel) {
        EventExecutor loop = tunnel.group().executor();
        return claim(tunnel, true).thenCompose(claim -> {
            tunnel.claimed(claim);
            if (tunnel.group().over()) {
                // the link ended while the store answered: give the name back, bind nothing
                claim.release();
                return CompletableFuture.<Channel>failedFuture(new LinkOver());
            }
            claim.lost().thenAccept(reason -> loop.execute(() -> tunnel.group().lost(tunnel, reason)));
            CompletionStage<Channel> bound;
            if (!tunnel.rawPort()) {
                return CompletableFuture.<Channel>completedFuture(null); // served on the ingress only: no listener
            }
            try {
                bound = toStage(binder.bind(tunnel, tunnel.group().eventLoop()));
            } catch (RuntimeException e) {
                bound = CompletableFuture.failedFuture(e);
            }
            return on(loop, bound).handle((channel, error) -> {
                if (error != null) {
                    claim.release();
                    throw new BindFailure(unwrap(error));
                }
                return channel;
            });
        });
    }

    /** The link ended before its name was claimed: nothing to answer, nothing held. */
    static final class LinkOver extends RuntimeException {
        private static final long serialVersionUID = 1L;

        LinkOver() {
            super("the link ended", null, false, false);
        }
    }

    private CompletionStage<NameClaim> claim(Tunnel tunnel, boolean mayTakeOver) {
        LinkGroup session = tunnel.group();
        EventExecutor loop = session.executor();
        return on(loop, names.claim(tunnel)).handle((claim, error) -> {
            if (error == null) {
                return CompletableFuture.completedFuture(claim);
            }
            Throwable cause = unwrap(error);
            if (!(cause instanceof NameTakenException taken)) {
                return CompletableFuture.<NameClaim>failedFuture(cause);
            }
            String name = tunnel.name();
            RemoteHolder remote = taken.remoteHolder().orElse(null);
            if (remote != null) {
                return claimedElsewhere(tunnel, remote, mayTakeOver);
            }
            Tunnel holder = taken.localHolder().orElse(null);
            LinkGroup old = holder == null ? null : holder.group();
            boolean sameToken = old != null && old != session && old.sameToken(session.tokenDigest());
            if (mayTakeOver && sameToken) {
                // The same token asks for a name another of its links holds. That link keeps it while its agent is
                // alive (two agents sharing a token must not steal each other's names); it loses it, and only it,
                // when it is the same agent process reconnecting (the gateway has not noticed the old link die) or
                // when it does not answer a Ping at once
                if (old.sameInstance(session.instance())) {
                    return takeOver(tunnel, holder, "the same agent reconnected");
                }
                Duration deadline = session.livenessDeadline();
                return on(loop, old.alive(deadline)).thenCompose(alive -> {
                    if (session.over()) {
                        return CompletableFuture.<NameClaim>failedFuture(new LinkOver());
                    }
                    if (!alive) {
                        return takeOver(tunnel, holder, "its link did not answer within " + deadline.toMillis()
                                + " ms");
                    }
                    events.refused("name_in_use");
                    log.info("agent {} asked for name '{}', which a live link of the same token holds ({})",
                            session.agent(), name, old.agent());
                    return CompletableFuture.<NameClaim>failedFuture(new Refusal(inUseByLiveAgent(session, name), false));
                });
            }
            events.refused("name_in_use");
            if (sameToken) {
                // taken over meanwhile by yet another link of this token: it may be gone when the agent tries again
                log.info("agent {} asked for name '{}', which another link of the same token holds", session.agent(),
                        name);
                return CompletableFuture.<NameClaim>failedFuture(new Refusal(inUseByLiveAgent(session, name), false));
            }
            if (holder == null || old != session && !session.hasToken() && !old.hasToken()) {
                // Gone between our attempts, or held by a link whose owner we cannot tell from this one (neither
                // has a token): it may be this agent's own dying link, so a request error the agent may retry
                log.info("agent {} asked for name '{}', which is already in use", session.agent(), name);
                return CompletableFuture.<NameClaim>failedFuture(new Refusal(Names.inUse(name), false));
            }
            // Held under another token, or by this very link: that will not change by trying again, so the agent
            // is refused for good and stops with this reason
            log.info("agent {} asked for name '{}', which {} holds", session.agent(), name,
                    old == session ? "this link already" : "another token");
            return CompletableFuture.<NameClaim>failedFuture(new Refusal(Names.inUse(name), true));
        }).thenCompose(stage -> stage);
    }

    /**
     * The name is held on another node of the cluster ({@code remote}). The same agent process reconnected here
     * (same token, same instance id) takes it over at once; another process of the same token takes it over when
     * the holder's node says that agent's link does not answer, and is told to try again while it does; another
     * token is refused for good.
     */
    private CompletionStage<NameClaim> claimedElsewhere(Tunnel tunnel, RemoteHolder remote, boolean mayTakeOver) {
        LinkGroup session = tunnel.group();
        String name = tunnel.name();
        boolean sameToken = session.hasToken() && remote.sameToken(session.tokenDigest());
        if (mayTakeOver && sameToken && remote.sameInstance(session.instance())) {
            log.info("agent {} takes over '{}' from node {}: the same agent reconnected", session.agent(), name,
                    remote.node());
            return takeOverRemote(tunnel, remote);
        }
        if (mayTakeOver && sameToken) {
            // another process of the same token: it takes the name only from a link that is gone, which the
            // holder's node finds out (a Ping within the holder's liveness deadline), as a local holder's would
            return on(session.executor(), names.holderAlive(name, remote)).thenCompose(alive -> {
                if (session.over()) {
                    return CompletableFuture.<NameClaim>failedFuture(new LinkOver());
                }
                if (!alive) {
                    log.info("agent {} takes over '{}' from node {}: its link did not answer", session.agent(), name,
                            remote.node());
                    return takeOverRemote(tunnel, remote);
                }
                events.refused("name_in_use");
                log.info("agent {} asked for name '{}', which a live agent of the same token holds on node {}",
                        session.agent(), name, remote.node());
                return CompletableFuture.<NameClaim>failedFuture(new Refusal(inUseByLiveAgent(session, name), false));
            });
        }
        events.refused("name_in_use");
        if (sameToken) {
            log.info("agent {} asked for name '{}', which another agent of the same token holds on node {}",
                    session.agent(), name, remote.node());
            return CompletableFuture.failedFuture(new Refusal(inUseByLiveAgent(session, name), false));
        }
        boolean neitherHasToken = !session.hasToken() && remote.tokenDigest() == null;
        log.info("agent {} asked for name '{}', which {} holds on node {}", session.agent(), name,
                neitherHasToken ? "an agent without a token" : "another token", remote.node());
        return CompletableFuture.failedFuture(new Refusal(Names.inUse(name), !neitherHasToken));
    }

    /** Claims {@code tunnel}'s name in place of {@code remote}; if the holder changed meanwhile, decides again. */
    private CompletionStage<NameClaim> takeOverRemote(Tunnel tunnel, RemoteHolder remote) {
        return on(tunnel.group().executor(), names.claimFrom(tunnel, remote)).handle((claim, error) -> {
            if (error == null) {
                return CompletableFuture.completedFuture(claim);
            }
            Throwable cause = unwrap(error);
            return cause instanceof NameTakenException
                    ? claim(tunnel, false) // the holder changed meanwhile: decide again, without a takeover
                    : CompletableFuture.<NameClaim>failedFuture(cause);
        }).thenCompose(stage -> stage);
    }

    /**
     * Takes {@code holder}'s name from its link for {@code tunnel}, of the same token ({@code why} says why that is
     * allowed), then claims it again; the holder's other names stay where they are.
     */
    private CompletionStage<NameClaim> takeOver(Tunnel tunnel, Tunnel holder, String why) {
        LinkGroup session = tunnel.group();
        log.info("agent {} takes over '{}' from link {}: {}", session.agent(), tunnel.name(), holder.group().agent(),
                why);
        CompletionStage<Void> released = holder.group().takeAway(holder, "name '" + tunnel.name()
                + "' was taken over by another connection of the same token from " + session.agent() + " (" + why
                + ")");
        return on(session.executor(), released).thenCompose(v -> session.over()
                ? CompletableFuture.<NameClaim>failedFuture(new LinkOver()) // no claim for a dead link
                : claim(tunnel, false));
    }

    // ---------------------------------------------------------------- expose, withdraw

    /**
     * A name the registrar did not expose: {@code told} is what the agent reads, {@code permanent} whether it is
     * refused for good, {@code details} what the registrar said (for the gateway's log only, escaped).
     */
    record Failure(String name, String told, boolean permanent, String details) {
    }

    /** The registrar's answers for a batch of names, in order. */
    static final class Exposed {
        private final List<Registrar.Exposure> exposures;
        private final List<CompletableFuture<Void>> stages;

        private Exposed(List<Registrar.Exposure> exposures, List<CompletableFuture<Void>> stages) {
            this.exposures = exposures;
            this.stages = stages;
        }

        /** Completes when the registrar has answered for every name. */
        CompletableFuture<Void> done() {
            return CompletableFuture.allOf(stages.toArray(CompletableFuture[]::new)).handle((v, e) -> null);
        }

        /** {@code exposing 'NAME' failed: reason} for the first name that failed, or {@code null}. */
        String failure() {
            for (int i = 0; i < stages.size(); i++) {
                if (stages.get(i).isCompletedExceptionally()) {
                    return "exposing '" + exposures.get(i).name() + "' failed: "
                            + Reasons.of(unwrap(stages.get(i).handle((v, e) -> e).join()));
                }
            }
            return null;
        }

        /**
         * The first name that failed, or {@code null}: what the agent is told ({@code exposing 'NAME' failed:
         * REASON}, the reason only when the registrar vouches that it reveals nothing of the operator's set-up, a
         * {@link RegistrarException}), whether it is for good (a {@link NameRefusedException}), and the details
         * for the gateway's log.
         */
        Failure firstFailure() {
            for (int i = 0; i < stages.size(); i++) {
                if (stages.get(i).isCompletedExceptionally()) {
                    Throwable cause = unwrap(stages.get(i).handle((v, e) -> e).join());
                    String name = exposures.get(i).name();
                    if (cause instanceof NameRefusedException refused) {
                        return new Failure(name, refused.getMessage(), true, Reasons.of(cause));
                    }
                    String told = cause instanceof RegistrarException safe ? Reasons.of(safe) : "the registrar failed";
                    return new Failure(name, "exposing '" + name + "' failed: " + told, false, Reasons.of(cause));
                }
            }
            return null;
        }

        /** Whether the registrar refused the {@code i}-th name (so there is nothing of it to withdraw). */
        boolean failed(int i) {
            return stages.get(i).isCompletedExceptionally();
        }

        /** Whether the registrar exposed the {@code i}-th name. */
        boolean succeeded(int i) {
            return stages.get(i).isDone() && !stages.get(i).isCompletedExceptionally();
        }
    }

    /** Asks {@code with} to expose every one of {@code exposures}; a registrar that throws fails that name. */
    static Exposed expose(Registrar with, List<Registrar.Exposure> exposures) {
        List<CompletableFuture<Void>> stages = new ArrayList<>(exposures.size());
        for (Registrar.Exposure exposure : exposures) {
            CompletableFuture<Void> stage;
            try {
                stage = with.register(exposure).toCompletableFuture();
            } catch (RuntimeException e) {
                stage = CompletableFuture.failedFuture(e);
            }
            stages.add(stage);
        }
        return new Exposed(List.copyOf(exposures), stages);
    }

    /** Asks {@code from} to withdraw {@code exposure}; a failure is logged, never fatal. */
    static void withdraw(Registrar from, Registrar.Exposure exposure) {
        try {
            from.unregister(exposure);
        } catch (RuntimeException e) {
            log.error("registrar failed to unregister '{}'", exposure.name(), e);
        }
    }

    /** Exposes {@code tunnels} (bound, of one link) with the registrar in place now. */
    Exposed expose(List<Tunnel> tunnels, String agent, String principal) {
        List<Registrar.Exposure> exposures = new ArrayList<>(tunnels.size());
        for (Tunnel tunnel : tunnels) {
            Registrar.Exposure exposure = new Registrar.Exposure(tunnel.name(), tunnel.port(), agent, principal);
            tunnel.exposing(exposure);
            exposures.add(exposure);
        }
        return expose(registrar, exposures);
    }

    /** Hears names go live and down (the ACME manager orders their certificates). */
    public interface LiveNames {
        /** {@code name} went live here for {@code principal} (the token's principal, or {@code null}). */
        void live(String name, String principal);

        /** {@code name} is no longer live here. */
        void gone(String name);
    }

    private volatile LiveNames watcher;

    /** {@code watcher} hears every name that goes live or down from now on (one watcher). */
    public void watch(LiveNames watcher) {
        this.watcher = watcher;
    }

    /** Whether {@code principal} may hold {@code name} now. */
    public boolean mayHold(String principal, String name) {
        return denial(principal, name) == null;
    }

    /** Every name of the batch went live: accept its connections. */
    void goLive(List<Tunnel> tunnels) {
        LiveNames told = watcher;
        for (Tunnel tunnel : tunnels) {
            tunnel.goLive(clock.instant());
            if (told != null) {
                told.live(tunnel.name(), tunnel.exposure() == null ? null : tunnel.exposure().principal());
            }
            if (tunnel.port() != 0 || tunnel.urls().isEmpty()) {
                log.info("register domain '{}' -> '{}'", tunnel.name(), tunnel.port());
            } else {
                log.info("register domain '{}' -> '{}'", tunnel.name(), tunnel.urls().get(0));
            }
        }
    }

    /**
     * Closes {@code tunnel}'s listener and, once it is closed, gives its name back (first step of a link's end):
     * a name is free only when its port no longer listens and its grace reservation is recorded. With io_uring
     * a listener's close completes a moment later, once its pending accept is cancelled.
     */
    CompletionStage<Void> release(Tunnel tunnel) {
        Channel listener = tunnel.listener();
        NameClaim claim = tunnel.claim();
        if (listener == null) {
            return claim == null ? CompletableFuture.completedFuture(null) : claim.release();
        }
        CompletableFuture<Void> closed = new CompletableFuture<>();
        listener.close().addListener(f -> closed.complete(null));
        return claim == null ? closed : closed.thenCompose(v -> claim.release());
    }

    /** Takes {@code tunnel} off the registrar if it was live (second step of a link's end). */
    void unexpose(Tunnel tunnel) {
        if (tunnel.goDown()) {
            log.info("unregister domain '{}'", tunnel.name());
            withdraw(registrar, tunnel.exposure());
            LiveNames told = watcher;
            if (told != null) {
                told.gone(tunnel.name());
            }
        }
    }

    // ---------------------------------------------------------------- a new registrar (reload)

    /**
     * Moves the live names to {@code next}: it exposes every one of them, then it takes over and the old
     * registrar withdraws them and is closed. A registrar of the same kind as the old one usually writes to the
     * same place (the same Traefik directory, the same Caddy routes), where registering again replaces the old
     * entry and withdrawing would undo it: the old one is then closed without withdrawing. If {@code next} fails
     * to expose a name within {@code timeout}, the old registrar stays in place, with every name, {@code next}
     * is closed and this throws {@link IllegalStateException} saying why.
     *
     * @return how many names were moved
     */
    public synchronized int moveTo(Registrar next, boolean sameKind, Duration timeout) throws InterruptedException {
        List<Tunnel> moving = names.live();
        List<String> portless = moving.stream().filter(tunnel -> tunnel.port() == 0).map(Tunnel::name).toList();
        if (next.routesToPorts() && !portless.isEmpty()) {
            // its routes would point at port 0: the names registered without a raw port while the ingress is on
            next.close();
            throw new IllegalStateException("it routes to the names' ports, and " + portless.size()
                    + " live name(s) have none (the ingress serves them, e.g. '" + portless.get(0) + "'): restart"
                    + " the gateway with it, so that every name registers with a port");
        }
        List<Registrar.Exposure> exposures = moving.stream().map(Tunnel::exposure).toList();
        // what an earlier run left (or a registrar of another kind never removed) goes before the names move
        next.reconcile(moving.stream().map(Tunnel::name).collect(Collectors.toUnmodifiableSet()));
        Exposed exposed = expose(next, exposures);
        String failure;
        try {
            exposed.done().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            failure = exposed.failure();
        } catch (TimeoutException e) {
            failure = "it did not expose the live names within " + timeout.toSeconds() + " s";
        } catch (ExecutionException e) {
            throw new IllegalStateException(e); // done() completes normally, whatever the stages did
        }
        if (failure != null) {
            for (int i = 0; i < exposures.size(); i++) {
                // still pending ones too: a registrar keeps a name's requests in order, so this withdrawal
                // runs after the exposure it undoes
                if (!sameKind && !exposed.failed(i)) {
                    withdraw(next, exposures.get(i));
                }
            }
            next.close();
            if (sameKind) {
                expose(registrar, exposures); // what the new one may have replaced
            }
            throw new IllegalStateException(failure);
        }
        Registrar old = registrar;
        registrar = next;
        // Names that went live or away while they were being moved: the old registrar exposed the first, the
        // new one may have exposed the second after its tunnel had gone.
        for (Tunnel tunnel : names.live()) {
            if (!moving.contains(tunnel)) {
                Exposed late = expose(next, List.of(tunnel.exposure()));
                late.done().thenRun(() -> {
                    String trouble = late.failure();
                    if (trouble != null) {
                        log.error("the new registrar failed: {}", trouble);
                    }
                });
                if (!sameKind) {
                    withdraw(old, tunnel.exposure());
                }
            }
        }
        for (Tunnel tunnel : moving) {
            if (!tunnel.live()) {
                withdraw(next, tunnel.exposure());
            } else if (!sameKind) {
                withdraw(old, tunnel.exposure());
            }
        }
        old.close();
        return moving.size();
    }

    // ---------------------------------------------------------------- futures

    /** {@code stage}, with what depends on it run on {@code loop} (at once when it is done and we are there). */
    static <T> CompletionStage<T> on(EventExecutor loop, CompletionStage<T> stage) {
        CompletableFuture<T> future = stage.toCompletableFuture();
        if (future.isDone() && loop.inEventLoop()) {
            return future;
        }
        CompletableFuture<T> hopped = new CompletableFuture<>();
        stage.whenComplete((value, error) -> loop.execute(() -> {
            if (error != null) {
                hopped.completeExceptionally(error);
            } else {
                hopped.complete(value);
            }
        }));
        return hopped;
    }

    static <T> CompletionStage<T> toStage(Future<T> future) {
        CompletableFuture<T> stage = new CompletableFuture<>();
        future.addListener(f -> {
            if (f.isSuccess()) {
                stage.complete(future.getNow());
            } else {
                stage.completeExceptionally(f.cause());
            }
        });
        return stage;
    }

    static Throwable unwrap(Throwable error) {
        Throwable cause = error;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException)
                && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }

    /**
     * "In use by a live agent" for an agent that knows the answer (protocol version 4) and retries it; an older
     * agent knows only "already in use", which it retries for a while after losing a link of its own.
     */
    private static String inUseByLiveAgent(LinkGroup session, String name) {
        return session.protocolVersion() >= 4 ? Names.inUseByLiveAgent(name) : Names.inUse(name);
    }
}
