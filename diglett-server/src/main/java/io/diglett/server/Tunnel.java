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
    /** What the registrar is (or was) asked to expose; read by the admin endpoint. */
    volatile Registrar.Exposure exposure;
    /** When it went live. */
    volatile java.time.Instant since;
    /** Streams, connections and bytes, for metrics and the admin API. */
    final TunnelStats stats = new TunnelStats();
    /** Live: the registrar exposed it; it must be told again when the tunnel goes. Read by the ingress. */
    volatile boolean live;
    /** On the HTTPS ingress, forward the client's TLS untouched (the backend terminates it). */
    final boolean tlsPassthrough;

    Tunnel(String name, int registration, GatewaySession session, boolean tlsPassthrough) {
        this.name = name;
        this.registration = registration;
        this.session = session;
        this.tlsPassthrough = tlsPassthrough;
    }

    @Override
    public String toString() {
        return "Tunnel(" + name + ", port " + port + ")";
    }
}
