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

    /**
     * Cuts link {@code number} of the session that holds {@code tunnel} (its TCP connection closes, as when a network
     * path fails); returns the event loop it ran on, or {@code null} if the session has no such link.
     */
    public static io.netty.channel.EventLoop cutLink(Tunnel tunnel, int number) {
        for (GatewaySession link : tunnel.group().links()) {
            if (link.linkNumber() == number) {
                link.channel().close();
                return link.eventLoop();
            }
        }
        return null;
    }

    /** The event loops the links of {@code tunnel}'s session run on, one entry per link. */
    public static java.util.List<io.netty.channel.EventLoop> linkLoops(Tunnel tunnel) {
        java.util.List<io.netty.channel.EventLoop> loops = new java.util.ArrayList<>();
        for (GatewaySession link : tunnel.group().links()) {
            loops.add(link.eventLoop());
        }
        return loops;
    }

    /**
     * Places one connection coming from {@code near} ({@code null}: from no loop) on a link of {@code tunnel}'s
     * session, as a public listener does; returns the link's number (0: none), whose count stays taken until
     * {@link #unplace}.
     */
    public static int place(Tunnel tunnel, io.netty.channel.EventLoop near) {
        GatewaySession link = tunnel.group().place(near);
        return link == null ? 0 : link.linkNumber();
    }

    /** Gives back a count {@link #place} took on link {@code number}. */
    public static void unplace(Tunnel tunnel, int number) {
        for (GatewaySession link : tunnel.group().links()) {
            if (link.linkNumber() == number) {
                link.unplace();
            }
        }
    }

    /** Makes {@code tunnel} live, as its registrar had exposed it. */
    public void goLive(Tunnel tunnel) {
        tunnel.goLive(java.time.Instant.EPOCH);
    }
}
