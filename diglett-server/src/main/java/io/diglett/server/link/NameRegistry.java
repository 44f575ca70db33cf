package io.diglett.server.link;

import io.netty.channel.Channel;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;

/**
 * Who holds which name: the one piece of state that agent links share, and the seam a shared store plugs into.
 *
 * <p>The contract is that of a remote, asynchronous, lease-backed store, so that a cluster of gateways can keep
 * its names in one (etcd, say) without another change to the link code:
 * <ul>
 *   <li>{@link #claim} is asynchronous and may fail: it completes later, on any thread, with a {@link NameClaim}
 *       or exceptionally with {@link NameTakenException} (held by someone else) or any other exception (the store
 *       is unreachable: the link is failed with that reason and the agent tries again later);</li>
 *   <li>a claim carries a {@linkplain NameClaim#fence() fencing number}, larger for every new claim of a name,
 *       so that a store can refuse writes of a holder that was superseded;</li>
 *   <li>a claim can be {@linkplain NameClaim#lost() lost} while it is held (its lease expired, another node took
 *       the name over): the link that held it gives the name up;</li>
 *   <li>{@link #lookup} answers from what this gateway knows now and never blocks: it only returns tunnels
 *       whose agent link ends here.</li>
 * </ul>
 * The default, {@link LocalNameRegistry}, keeps the names in this process; its claims complete at once and are
 * never lost.
 */
public interface NameRegistry extends AutoCloseable {

    /**
     * Claims {@code tunnel}'s name for it. The stage completes with the claim, or exceptionally with
     * {@link NameTakenException} when another tunnel holds the name.
     */
    CompletionStage<NameClaim> claim(Tunnel tunnel);

    /**
     * Claims {@code tunnel}'s name in place of {@code holder}, a holder on another node of a cluster that the
     * takeover rule lets {@code tunnel}'s agent replace (the same agent, reconnected to another node). Completes
     * exceptionally with {@link NameTakenException} when the name has another holder by then. Only a registry shared
     * by a cluster has holders elsewhere.
     */
    /**
     * Whether names are shared with other gateways (cluster mode), whose ingress and ports also reach them: visitor
     * policies are refused there until every node enforces them.
     */
    default boolean shared() {
        return false;
    }

    default CompletionStage<NameClaim> claimFrom(Tunnel tunnel, RemoteHolder holder) {
        return java.util.concurrent.CompletableFuture.failedFuture(
                new UnsupportedOperationException("this registry has no holders on other nodes"));
    }

    /**
     * Whether {@code tunnel} may have public port {@code port}, which this gateway just bound for it: always for a
     * single gateway; in a cluster, when no other name holds that port anywhere in the cluster (the claim then
     * lasts until the listener closes). Completes on any thread; the listener is closed and another port tried
     * when it is {@code false}.
     */
    default CompletionStage<Boolean> claimPort(Tunnel tunnel, int port, Channel listener) {
        return java.util.concurrent.CompletableFuture.completedFuture(true);
    }

    /**
     * The public port {@code name} had last (in a cluster: on whichever node held it), to give it the same one
     * again; 0 when none is known here.
     */
    default int previousPort(String name) {
        return 0;
    }

    /**
     * Whether the agent of {@code holder}, on another node, still answers: completes with {@code false} only when
     * that node says its agent link did not answer in time (or that it no longer holds the name under that claim),
     * {@code true} when it answers so or cannot be asked. Only a registry of a cluster has such holders.
     */
    default CompletionStage<Boolean> holderAlive(String name, RemoteHolder holder) {
        return java.util.concurrent.CompletableFuture.completedFuture(true);
    }

    /** The tunnel of this gateway that holds {@code name} now, if any. */
    Optional<Tunnel> lookup(String name);

    /**
     * Where a public connection for {@code name} goes now: its live tunnel on this gateway, or (in a cluster) the
     * node holding it; empty when the name is not served. Never blocks.
     */
    default Optional<StreamTarget> target(String name) {
        return lookup(name).filter(Tunnel::live).map(tunnel -> tunnel);
    }

    /** This gateway's tunnels that are live (exposed and accepting), sorted by name; a snapshot. */
    List<Tunnel> live();

    /** How many names this gateway's tunnels hold or are claiming. */
    int size();

    /** Tells {@code listener} of every change from now on (on the thread that made it). */
    void subscribe(Listener listener);

    /** A change of the namespace. */
    record Change(Kind kind, String name, long fence) {
        /** What happened to the name. */
        public enum Kind { CLAIMED, RELEASED, LOST }
    }

    /** Learns about changes: must return at once (it may run on an event loop). */
    @FunctionalInterface
    interface Listener {
        void changed(Change change);
    }

    @Override
    default void close() {
    }
}
