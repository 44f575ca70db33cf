package io.diglett.server;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/** Which agent holds which name, across all links (the only state links share). */
final class NameRegistry {
    private final ConcurrentMap<String, Tunnel> byName = new ConcurrentHashMap<>();

    /** Takes the tunnel's name; {@code false} if another tunnel holds it. */
    boolean claim(Tunnel tunnel) {
        return byName.putIfAbsent(tunnel.name, tunnel) == null;
    }

    /** Gives the name back, if this tunnel still holds it. */
    void release(Tunnel tunnel) {
        byName.remove(tunnel.name, tunnel);
    }

    Tunnel get(String name) {
        return byName.get(name);
    }

    /** The names that are live now (a snapshot view; safe from any thread). */
    java.util.List<Tunnel> live() {
        java.util.List<Tunnel> live = new java.util.ArrayList<>();
        for (Tunnel tunnel : byName.values()) {
            if (tunnel.live) {
                live.add(tunnel);
            }
        }
        live.sort(java.util.Comparator.comparing(t -> t.name));
        return live;
    }

    int size() {
        return byName.size();
    }
}
