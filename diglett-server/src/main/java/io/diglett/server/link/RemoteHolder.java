package io.diglett.server.link;

import java.util.Arrays;
import java.util.Objects;
import java.util.UUID;

/**
 * The holder of a name on another node of a cluster, as the shared store records it: enough to apply the takeover
 * rule (the same token may take a name over from its own agent's dead or reconnecting link) across nodes.
 *
 * @param node        the node whose agent link holds the name
 * @param tokenDigest SHA-256 of that agent's login token, or {@code null} without one
 * @param instance    that agent's instance id, or {@code null} for an agent that sends none
 * @param fence       the claim's fencing number (the store's revision that wrote it)
 * @param tlsPassthrough whether the name's HTTPS is its backend's own (the ingress passes TLS through)
 * @param visitors    the name's visitor policy in force, as its holder wrote it, enforced here for the clients this
 *                    node forwards (one instance per record: its rate buckets and verified logins live as long)
 */
public record RemoteHolder(String node, byte[] tokenDigest, UUID instance, long fence, boolean tlsPassthrough,
                           VisitorPolicy visitors) {

    /** Without a visitor policy. */
    public RemoteHolder(String node, byte[] tokenDigest, UUID instance, long fence, boolean tlsPassthrough) {
        this(node, tokenDigest, instance, fence, tlsPassthrough, VisitorPolicy.OPEN);
    }

    /** Whether that agent logged in with the token whose digest is {@code digest}. */
    public boolean sameToken(byte[] digest) {
        return tokenDigest != null && digest != null && java.security.MessageDigest.isEqual(tokenDigest, digest);
    }

    /** Whether that agent is the process {@code other} names. */
    public boolean sameInstance(UUID other) {
        return instance != null && instance.equals(other);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RemoteHolder h && h.node.equals(node) && h.fence == fence
                && h.tlsPassthrough == tlsPassthrough && h.visitors.policy().equals(visitors.policy())
                && Arrays.equals(h.tokenDigest, tokenDigest) && Objects.equals(h.instance, instance);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(fence) * 31 + node.hashCode();
    }

    @Override
    public String toString() {
        return "RemoteHolder[node=" + node + ", fence=" + fence + "]";
    }
}
