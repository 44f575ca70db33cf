package io.diglett.server.link;

import io.diglett.protocol.mux.Stream;
import io.netty.channel.Channel;
import java.util.function.Consumer;

/**
 * Where a public connection routed by name goes: a live {@link Tunnel} of this gateway, or, in cluster mode, the
 * node that holds the name (its connections are forwarded there). The ingress sees no difference.
 */
public interface StreamTarget {

    /** The name. */
    String name();

    /**
     * Who may reach the name (its visitor policy): a local name's, or for a name another node holds, the policy
     * its holder record carries (docs/policy.md).
     */
    default VisitorPolicy visitors() {
        return VisitorPolicy.OPEN;
    }

    /** Whether the name's HTTPS is the backend's own (the ingress passes TLS through). */
    boolean tlsPassthrough();

    /**
     * Carries {@code client}'s bytes to the name's backend from now on; {@code end} is told what the far side
     * needs of the client's side (its output done, or a reset). {@code done} is called, on any thread, with
     * {@code null} once the bytes flow, or with why they cannot (the caller answers the client).
     */
    void openStream(Channel client, Stream.LocalEnd end, Consumer<String> done);
}
