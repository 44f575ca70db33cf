package io.diglett.server.link;

import io.diglett.protocol.Frame;
import io.diglett.protocol.Names;
import io.diglett.protocol.Printable;
import io.diglett.protocol.Policy;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.Reasons;
import io.diglett.protocol.Requests;
import io.diglett.server.auth.AccessDeniedException;
import io.netty.channel.Channel;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The names of one agent's session, from the Register frames of the link it logged in on to the session's end:
 * checks each request, has {@link Registrations} claim and bind it, answers the agent, exposes the whole batch
 * when the agent finishes registering (then the session goes live), authorizes them again when the tokens change,
 * and releases them when the session's last link ends. Runs on the session's home loop ({@link LinkGroup}), which
 * is the loop of the link the agent registered on.
 */
final class LinkNames {

    private static final Logger log = LoggerFactory.getLogger(LinkNames.class);

    private final LinkGroup session;
    private final LinkServices services;
    private final Registrations registrations;
    /** By registration id: claimed, or being claimed and bound. */
    private final Map<Integer, Tunnel> tunnels = new LinkedHashMap<>();
    /** Claims and binds not finished yet. */
    private int pending;
    /** FinishRegister arrived while some were pending: finish once they are done. */
    private boolean finishRequested;
    /** The registrar is working on this link's names. */
    private boolean exposing;
    /** Who logged in, as the authenticator named it. */
    private String principal;
    /** Policy frames for registrations not registered yet: the policy, or why it is refused. Bounded. */
    private final Map<Integer, Object> policies = new HashMap<>();

    LinkNames(LinkGroup session, LinkServices services) {
        this.session = session;
        this.services = services;
        this.registrations = services.registrations();
    }

    /** The agent logged in as {@code who}: its names are authorized for that principal. */
    void loggedIn(String who) {
        principal = who;
    }

    /**
     * A Policy frame (version 6): kept for the Register of its registration id, which comes next. A policy that
     * does not parse is kept as the reason that Register is refused.
     */
    void policy(Frame frame) {
        if (tunnels.containsKey(frame.id()) || policies.containsKey(frame.id())) {
            // after its Register it would never apply: the name would go live without it
            throw new ProtocolException("Policy for registration " + Integer.toUnsignedString(frame.id())
                    + (tunnels.containsKey(frame.id()) ? " after its Register" : " twice"));
        }
        int limit = services.config().get().maxNamesPerAgent();
        if (policies.size() >= limit) {
            throw new ProtocolException("more Policy frames than names an agent may register (" + limit + ")");
        }
        Object policy;
        try {
            policy = Policy.decode(frame);
        } catch (IllegalArgumentException e) {
            policy = "visitor policy refused: " + e.getMessage();
        }
        policies.put(frame.id(), policy);
    }

    /** The largest policy a name may have in cluster mode (its holder record's room). */
    static final int MAX_SHARED_POLICY = 4096;

    /**
     * The visitor policy in force for {@code request}: the agent's (sent before it) narrowed by the operator's for
     * this principal; a String: why it cannot be enforced.
     */
    private Object effectivePolicy(int registration, Requests.Register request, boolean raw) {
        Object sent = policies.remove(registration);
        if (sent instanceof String refusal) {
            return refusal;
        }
        Policy agent = sent == null ? Policy.NONE : (Policy) sent;
        Policy effective;
        try {
            effective = agent.narrowedBy(registrations.authenticator().policy(principal));
        } catch (IllegalArgumentException e) {
            return "visitor policy refused: " + e.getMessage();
        }
        String unenforceable = unenforceable(effective, request.name(), raw, request.tlsPassthrough());
        if (unenforceable != null) {
            return unenforceable;
        }
        return effective;
    }

    /**
     * Why this gateway cannot enforce {@code effective} for the name (a header rule or login where clients bypass
     * the HTTP ingress, OpenID without HTTPS, too large for the cluster's record), or {@code null}. Asked at
     * registration and again when the operator's policy changes a live name's.
     */
    private String unenforceable(Policy effective, String name, boolean raw, boolean passthrough) {
        if (effective.rewritesHeaders() && (raw || passthrough)) {
            return "visitor policy refused: header rules and logins (basic-auth, jwt-jwks, oidc-issuer) act on the"
                    + " HTTP ingress only, and '" + name + "' " + (passthrough ? "passes TLS through to its backend"
                    : services.config().get().ingress().enabled() ? "also has a raw port (raw=on, or this gateway's"
                    + " registrar routes to ports)" : "is served on a raw port: this gateway has no HTTP ingress");
        }
        if (registrations.names().shared()
                && effective.text().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_SHARED_POLICY) {
            // the holder record carries it to the other nodes, and has room for this much (HolderRecord)
            return "visitor policy refused: with the operator's rules it takes more than " + MAX_SHARED_POLICY
                    + " bytes, more than a cluster's name record holds";
        }
        if (effective.oidc() != null && services.config().get().ingress().https() == null) {
            return "visitor policy refused: an OpenID Connect login needs the HTTPS ingress (its session cookie is"
                    + " Secure), and this gateway serves no --https";
        }
        return null;
    }

    /** A Register frame: refused at once with an Error, or claimed and bound, then answered. */
    void register(int registration, Requests.Register request) {
        String refusal = problem(registration, request);
        // with the ingress on, it is the only way in unless the agent asks for a raw port (only there does a
        // backend get forwarding headers the gateway set), or the registrar routes a proxy to the port
        boolean raw = request.rawPort() || !services.config().get().ingress().enabled()
                || registrations.registrar().routesToPorts();
        Object sent = policies.get(registration); // the agent's own, kept on its tunnel (operator changes re-narrow it)
        Object policy = refusal == null ? effectivePolicy(registration, request, raw) : policies.remove(registration);
        if (refusal == null && policy instanceof String why) {
            services.events().refused("policy");
            refusal = why;
        }
        if (refusal != null) {
            log.info("agent {} registration {} refused: {}", session.agent(), Integer.toUnsignedString(registration),
                    refusal);
            session.reply(Frame.error(session.alloc(), registration, refusal));
            return;
        }
        Tunnel tunnel = new Tunnel(request.name(), registration, session, request.tlsPassthrough(), raw);
        tunnel.agentPolicy(sent instanceof Policy own ? own : Policy.NONE);
        if (!((Policy) policy).none()) {
            tunnel.visitors(new VisitorPolicy((Policy) policy, System::nanoTime));
        }
        tunnels.put(registration, tunnel);
        pending++;
        registrations.claimAndBind(tunnel).whenComplete((listener, error) -> guarded(() -> {
            pending--;
            bound(tunnel, listener, error == null ? null : Registrations.unwrap(error));
        }));
    }

    /** Why the agent may not register this, or {@code null}; a registration id 0 breaks the protocol. */
    private String problem(int registration, Requests.Register request) {
        String name = request.name();
        if (registration == Protocol.CONNECTION_ID) {
            // an answer would be Error(0), which means "connection over": say so and mean it
            throw new ProtocolException("Register with registration id 0");
        }
        if (tunnels.containsKey(registration)) {
            return "registration id " + Integer.toUnsignedString(registration) + " is already used";
        }
        String invalid = Names.problem(name);
        if (invalid != null) {
            services.events().refused("name_invalid");
            return invalid;
        }
        if ((request.flags() & ~Requests.KNOWN_FLAGS) != 0) {
            return "unknown registration flags 0x" + Integer.toHexString(request.flags())
                    + " (this gateway knows 0x" + Integer.toHexString(Requests.KNOWN_FLAGS) + ")";
        }
        int limit = services.config().get().maxNamesPerAgent();
        if (tunnels.size() >= limit) {
            return "too many names on one agent (limit " + limit + ")";
        }
        if (registrations.reserved().contains(name)) {
            services.events().refused("name_reserved");
            return "name '" + name + "' is reserved by this gateway's operator";
        }
        String denied = registrations.authorize(principal, name);
        if (denied != null) {
            services.events().refused("name_not_allowed");
            return "name '" + name + "' is not allowed: " + denied;
        }
        return null;
    }

    /**
     * Runs a continuation of a stage: what it throws would vanish with the stage, leaving the link waiting for
     * an answer that never comes, so it fails the link instead, with a log line.
     */
    private void guarded(Runnable continuation) {
        try {
            continuation.run();
        } catch (RuntimeException e) {
            log.error("agent {}: internal error while registering its names", session.agent(), e);
            session.fail("internal error while registering: " + Reasons.of(e));
        }
    }

    /** The claim and bind of {@code tunnel} ended: with its listener, or with {@code error}. */
    private void bound(Tunnel tunnel, Channel listener, Throwable error) {
        if (error != null) {
            tunnels.remove(tunnel.registration());
            registrations.release(tunnel); // whatever part of it is held (safe twice)
            if (session.over() || error instanceof Registrations.LinkOver) {
                // the link ended meanwhile: nothing to answer
            } else if (error instanceof Registrations.Refusal refusal && !refusal.fatal) {
                session.reply(Frame.error(session.alloc(), tunnel.registration(), refusal.getMessage()));
            } else if (error instanceof Registrations.Refusal refusal) {
                session.refuse(refusal.getMessage());
            } else if (error instanceof Registrations.BindFailure) {
                // the gateway's problem, not the agent's: a connection error, so the agent tries again later
                session.fail("cannot open a public port for '" + tunnel.name() + "': " + error.getMessage());
            } else {
                session.fail("cannot claim the name '" + tunnel.name() + "': " + Reasons.of(error));
            }
        } else if (session.over()) {
            tunnel.bound(listener, 0);
            registrations.release(tunnel);
        } else {
            tunnel.bound(listener, listener == null ? 0 : ((InetSocketAddress) listener.localAddress()).getPort());
            tunnel.urls(services.urls().apply(tunnel));
            session.reply(Frame.registered(session.alloc(), tunnel.registration(), tunnel.port(), tunnel.urls()));
        }
        if (finishRequested && pending == 0) {
            finish();
        }
    }

    /**
     * FinishRegister: once every claim and bind is done, the registrar exposes the batch; then the names go
     * live and the session active, or what was exposed is withdrawn and the link fails with the reason.
     */
    void finish() {
        if (session.over()) {
            return;
        }
        if (pending > 0) {
            finishRequested = true;
            return;
        }
        finishRequested = false;
        if (session.phase() != GatewaySession.Phase.REGISTER || exposing) {
            return;
        }
        if (tunnels.isEmpty()) {
            session.fail("registration finished without any name registered");
            return;
        }
        exposing = true;
        List<Tunnel> all = new ArrayList<>(tunnels.values());
        Registrations.Exposed exposed = registrations.expose(all, session.agent(), principal);
        exposed.done().whenComplete((ignored, error) -> session.executor().execute(
                () -> guarded(() -> exposed(all, exposed))));
    }

    private void exposed(List<Tunnel> all, Registrations.Exposed exposed) {
        exposing = false;
        Registrations.Failure failure = exposed.firstFailure();
        if (failure != null || session.over() || session.phase() != GatewaySession.Phase.REGISTER) {
            for (int i = 0; i < all.size(); i++) {
                if (exposed.succeeded(i)) {
                    Registrations.withdraw(registrations.registrar(), all.get(i).exposure());
                }
            }
            if (failure == null) {
                return;
            }
            // what the registrar said may name the operator's paths and addresses: the log gets it, the agent not
            log.warn("agent {}: the registrar did not expose '{}': {}", session.agent(), failure.name(),
                    Printable.of(failure.details()));
            if (failure.permanent()) {
                // the name is refused for good (a site of the operator's): the agent stops, as for a reserved name
                services.events().refused("name_operator_site");
                session.refuse(failure.told());
            } else {
                session.fail(failure.told()); // the gateway's trouble, not the agent's: it may try again later
            }
            return;
        }
        registrations.goLive(all);
        session.activate();
    }

    /** The registry took {@code tunnel}'s name away (a lease expired, another holder fenced it). */
    void lost(Tunnel tunnel, String reason) {
        if (session.over() || tunnels.get(tunnel.registration()) != tunnel) {
            return;
        }
        log.warn("agent {}: the name '{}' was lost ({}), closing the link", session.agent(), tunnel.name(), reason);
        session.fail("the name '" + tunnel.name() + "' was lost: " + reason);
    }

    /**
     * Another link of the same token takes {@code tunnel}'s name: its listener closes, the name is released and
     * withdrawn from the registrar, and the agent is told with an Error for that registration (from version 4; an
     * older agent would take it for a protocol error, so it is told nothing and simply gets no more connections
     * for the name). The link keeps its other names and their streams; connections already open on this name
     * finish here. A link left without a name is closed (with a connection error: its agent may try again).
     * Completes once the registry has the name back.
     */
    CompletionStage<Void> takeAway(Tunnel tunnel, String reason) {
        if (session.over() || tunnels.get(tunnel.registration()) != tunnel) {
            return CompletableFuture.completedFuture(null);
        }
        tunnels.remove(tunnel.registration());
        log.warn("agent {}: {}", session.agent(), reason);
        CompletionStage<Void> released = registrations.release(tunnel);
        registrations.unexpose(tunnel);
        if (session.speaks(Requests.Login.INSTANCE_SINCE)) {
            session.reply(Frame.error(session.alloc(), tunnel.registration(), reason));
        }
        if (tunnels.isEmpty()) {
            session.fail(reason + "; this link has no name left");
        }
        return released;
    }

    /**
     * The authenticator changed its mind (token file edited): every name is authorized again, and the session ends
     * with the reason if one is no longer allowed ({@link #withdraw}).
     *
     * @return that reason, or {@code null} when every name is still allowed
     */
    String reauthorize() {
        Withdrawn withdrawn = withdrawn();
        if (withdrawn == null) {
            return null;
        }
        withdraw(withdrawn);
        return withdrawn.reason();
    }

    /**
     * The first of the session's names the authenticator no longer allows, or {@code null} when it allows them all
     * (or the session is over, or has no principal).
     */
    Withdrawn withdrawn() {
        if (principal == null || session.over()) {
            return null;
        }
        for (Tunnel tunnel : tunnels.values()) {
            AccessDeniedException denial = registrations.denial(principal, tunnel.name());
            if (denial != null) {
                return new Withdrawn("authorization for '" + tunnel.name() + "' withdrawn: " + Reasons.of(denial),
                        denial.temporary());
            }
        }
        // the operator's policy may have changed (a token file reload): live names get it now
        Policy operator = registrations.authenticator().policy(principal);
        for (Tunnel tunnel : tunnels.values()) {
            Policy now;
            try {
                now = tunnel.agentPolicy().narrowedBy(operator);
            } catch (IllegalArgumentException e) {
                return new Withdrawn("visitor policy of '" + tunnel.name() + "' refused: " + e.getMessage(), false);
            }
            if (now.equals(tunnel.visitors().policy())) {
                continue;
            }
            // a login added to a raw or passthrough name would be skipped by its port: the name goes instead
            String unenforceable = unenforceable(now, tunnel.name(), tunnel.rawPort(), tunnel.tlsPassthrough());
            if (unenforceable != null) {
                return new Withdrawn(unenforceable, false);
            }
            if (registrations.names().shared()) {
                // the other nodes enforce the policy their copy of the holder record carries: the agent registers
                // again (at once) so that the new one is written there
                return new Withdrawn("the visitor policy of '" + tunnel.name() + "' changed (the operator's token"
                        + " file): register again", true, true);
            }
            log.info("agent {}: the visitor policy of '{}' is now: {}", session.agent(), tunnel.name(),
                    Printable.of(now.shown().strip().replace('\n', ';')));
            tunnel.visitors(now.none() ? VisitorPolicy.OPEN : new VisitorPolicy(now, System::nanoTime));
        }
        return null;
    }

    /**
     * Ends the session for a name no longer allowed: failed when the authenticator could not decide now (the
     * gateway's trouble: the agent tries again, and is back once it is over), refused when it said no.
     */
    void withdraw(Withdrawn withdrawn) {
        log.warn("agent {}: {}, closing its tunnels", session.agent(), withdrawn.reason());
        services.events().refused("withdrawn");
        if (withdrawn.temporary()) {
            session.fail(withdrawn.reason());
        } else {
            session.refuse(withdrawn.reason());
        }
    }

    /**
     * A name the authenticator no longer allows: why, whether it only could not decide now, and whether the agent
     * must register again now (its policy changed in cluster mode: the record the other nodes read is rewritten so).
     */
    record Withdrawn(String reason, boolean temporary, boolean reregister) {
        Withdrawn(String reason, boolean temporary) {
            this(reason, temporary, false);
        }
    }

    /** Stops accepting public connections (the gateway drains). */
    void closeListeners() {
        for (Tunnel tunnel : tunnels.values()) {
            if (tunnel.listener() != null) {
                tunnel.listener().close();
            }
        }
    }

    /**
     * The link ended: listeners closed and names released first, then the registrar told. Completes when the
     * registry has every name back (at once in memory; a remote store answers later), so that a takeover waiting
     * for this link finds the name free.
     */
    CompletableFuture<Void> releaseAll() {
        List<CompletableFuture<Void>> released = new ArrayList<>(tunnels.size());
        for (Tunnel tunnel : tunnels.values()) {
            released.add(registrations.release(tunnel).toCompletableFuture());
        }
        for (Tunnel tunnel : tunnels.values()) {
            registrations.unexpose(tunnel);
        }
        tunnels.clear();
        return CompletableFuture.allOf(released.toArray(CompletableFuture[]::new));
    }
}
