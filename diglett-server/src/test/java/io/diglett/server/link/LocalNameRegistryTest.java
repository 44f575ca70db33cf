package io.diglett.server.link;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.server.link.NameRegistry.Change;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** The in-memory registry: one holder per name, fences that grow, changes told in order, releases idempotent. */
class LocalNameRegistryTest {

    private final LocalNameRegistry names = new LocalNameRegistry();
    private final List<Change> changes = new ArrayList<>();

    LocalNameRegistryTest() {
        names.subscribe(changes::add);
    }

    private static Tunnel tunnel(String name) {
        return new Tunnel(name, 1, null, false);
    }

    @Test
    void aNameHasOneHolderUntilItIsReleased() {
        Tunnel first = tunnel("web");
        NameClaim claim = names.claim(first).toCompletableFuture().join();
        assertEquals("web", claim.name());
        assertSame(first, names.lookup("web").orElseThrow());

        CompletableFuture<NameClaim> second = names.claim(tunnel("web")).toCompletableFuture();
        CompletionException refused = org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class,
                second::join);
        NameTakenException taken = assertInstanceOf(NameTakenException.class, refused.getCause());
        assertSame(first, taken.localHolder().orElseThrow(), "the holder is named, for a takeover");
        assertEquals("name 'web' is already in use", taken.getMessage());

        claim.release();
        claim.release(); // idempotent: told once
        assertTrue(names.lookup("web").isEmpty());
        assertEquals(0, names.size());
        NameClaim again = names.claim(tunnel("web")).toCompletableFuture().join();
        assertTrue(again.fence() > claim.fence(), "a newer claim has a larger fence");
        assertEquals(List.of(new Change(Change.Kind.CLAIMED, "web", claim.fence()),
                new Change(Change.Kind.RELEASED, "web", claim.fence()),
                new Change(Change.Kind.CLAIMED, "web", again.fence())), changes);
        assertFalse(again.lost().toCompletableFuture().isDone(), "an in-memory claim is never lost");
    }

    @Test
    void anOlderClaimCannotReleaseANewerHolder() {
        NameClaim old = names.claim(tunnel("api")).toCompletableFuture().join();
        old.release();
        Tunnel newer = tunnel("api");
        names.claim(newer).toCompletableFuture().join();
        old.release();
        assertSame(newer, names.lookup("api").orElseThrow());
    }

    @Test
    void liveListsOnlyLiveTunnelsByName() {
        TestTunnels tunnels = new TestTunnels(names);
        Tunnel zeta = tunnels.claim("zeta");
        Tunnel alpha = tunnels.claim("alpha");
        tunnels.claim("idle");
        tunnels.goLive(zeta);
        tunnels.goLive(alpha);
        assertEquals(List.of(alpha, zeta), names.live());
        assertEquals(3, names.size());
    }
}
