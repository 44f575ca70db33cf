package io.diglett.server;

import io.netty.channel.Channel;

/**
 * A registered name: the agent session that owns it, its registration id on that link, and its public
 * listener. Mutated only on the owning link's event loop.
 */
final class Tunnel {
    final String name;
    final int registration;
    final GatewaySession session;
    /** The public listener, once bound. */
    Channel listener;
    /** Written on the link's loop, read by {@link Gateway#publicPort} from any thread. */
    volatile int port;
    /** What the registrar is (or was) asked to expose. */
    Registrar.Exposure exposure;
    /** Live: the registrar exposed it; it must be told again when the tunnel goes. */
    boolean live;

    Tunnel(String name, int registration, GatewaySession session) {
        this.name = name;
        this.registration = registration;
        this.session = session;
    }

    @Override
    public String toString() {
        return "Tunnel(" + name + ", port " + port + ")";
    }
}
