package io.diglett.server.link;

import io.diglett.protocol.Joining;
import java.util.Collection;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The sessions of the agents logged in to this gateway, by session id, for links that join one
 * ({@link LinkGroup}). A session's join key is derived from this gateway's secret ({@link Joining#key}), made at
 * start and never written anywhere: a restarted gateway knows no session, and its agents log in anew. There is
 * one session per logged-in agent, so {@code --max-agents} bounds the map. Any thread.
 */
public final class LinkGroups {

    private final byte[] secret;
    private final ConcurrentHashMap<UUID, LinkGroup> groups = new ConcurrentHashMap<>();

    public LinkGroups() {
        this(Joining.newSecret());
    }

    /** With a given secret: every gateway sharing it derives the same keys (a cluster's nodes, tests). */
    public LinkGroups(byte[] secret) {
        this.secret = secret.clone();
    }

    /** A new session for the link that just logged in. */
    LinkGroup create(GatewaySession first, LinkServices services) {
        while (true) {
            UUID id = Joining.newSessionId();
            LinkGroup group = new LinkGroup(this, id, Joining.key(secret, id), first, services);
            if (groups.putIfAbsent(id, group) == null) {
                return group;
            }
        }
    }

    /** The session {@code id}, or {@code null} if there is none (never was, or ended). */
    LinkGroup find(UUID id) {
        return groups.get(id);
    }

    /** The key a proof for session {@code id} must be made with (whether or not the session exists). */
    byte[] key(UUID id) {
        return Joining.key(secret, id);
    }

    void ended(LinkGroup group) {
        groups.remove(group.id(), group);
    }

    /** Every session now. */
    public Collection<LinkGroup> all() {
        return List.copyOf(groups.values());
    }

    /** How many sessions there are. */
    public int size() {
        return groups.size();
    }
}
