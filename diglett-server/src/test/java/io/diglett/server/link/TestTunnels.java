package io.diglett.server.link;

import io.netty.channel.embedded.EmbeddedChannel;

/**
 * Tunnels for unit tests of what reads them (ingress routing): claimed in a registry and made live without an
 * agent link, with an {@link EmbeddedChannel} as their listener.
 */
public final class TestTunnels {

    private final NameRegistry names;

    public TestTunnels(NameRegistry names) {
        this.names = names;
    }

    /** A tunnel holding {@code name}, not live yet. */
    public Tunnel claim(String name) {
        Tunnel tunnel = new Tunnel(name, 1, null, false);
        tunnel.claimed(names.claim(tunnel).toCompletableFuture().join());
        tunnel.bound(new EmbeddedChannel(), 1);
        return tunnel;
    }

    /** Makes {@code tunnel} live, as its registrar had exposed it. */
    public void goLive(Tunnel tunnel) {
        tunnel.goLive(java.time.Instant.EPOCH);
    }
}
