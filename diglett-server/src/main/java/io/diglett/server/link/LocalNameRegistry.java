package io.diglett.server.link;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The names of one gateway process, in memory (the single-node default): a claim is a
 * {@code putIfAbsent}, completes before {@link #claim} returns, and is never lost.
 */
public final class LocalNameRegistry implements NameRegistry {

    private final ConcurrentMap<String, Held> byName = new ConcurrentHashMap<>();
    private final AtomicLong fences = new AtomicLong();
    private final NameListeners listeners = new NameListeners();

    @Override
    public CompletionStage<NameClaim> claim(Tunnel tunnel) {
        Held held = new Held(tunnel, fences.incrementAndGet());
        // a holder that goes away between the attempts is not "in use"
        for (int attempt = 0; attempt < 3; attempt++) {
            Held holder = byName.putIfAbsent(tunnel.name(), held);
            if (holder == null) {
                listeners.tell(new Change(Change.Kind.CLAIMED, tunnel.name(), held.fence));
                return CompletableFuture.completedFuture(held);
            }
            if (byName.get(tunnel.name()) != null) {
                return CompletableFuture.failedFuture(new NameTakenException(tunnel.name(), holder.tunnel));
            }
        }
        return CompletableFuture.failedFuture(new NameTakenException(tunnel.name(), null));
    }

    @Override
    public Optional<Tunnel> lookup(String name) {
        Held held = byName.get(name);
        return held == null ? Optional.empty() : Optional.of(held.tunnel);
    }

    @Override
    public List<Tunnel> live() {
        List<Tunnel> live = new ArrayList<>();
        for (Held held : byName.values()) {
            if (held.tunnel.live()) {
                live.add(held.tunnel);
            }
        }
        live.sort(Comparator.comparing(Tunnel::name));
        return live;
    }

    @Override
    public int size() {
        return byName.size();
    }

    @Override
    public void subscribe(Listener listener) {
        listeners.add(listener);
    }

    /** One claim: the tunnel that holds the name. */
    private final class Held implements NameClaim {
        private final Tunnel tunnel;
        private final long fence;
        private final AtomicBoolean released = new AtomicBoolean();
        private final CompletableFuture<String> lost = new CompletableFuture<>();

        Held(Tunnel tunnel, long fence) {
            this.tunnel = tunnel;
            this.fence = fence;
        }

        @Override
        public String name() {
            return tunnel.name();
        }

        @Override
        public long fence() {
            return fence;
        }

        @Override
        public CompletionStage<Void> release() {
            if (!released.getAndSet(true) && byName.remove(tunnel.name(), this)) {
                listeners.tell(new Change(Change.Kind.RELEASED, tunnel.name(), fence));
            }
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletionStage<String> lost() {
            return lost;
        }
    }
}
