package io.diglett.server.link;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The port grace: when the listener of a name that went live closes (its link dropped), its port stays reserved
 * for the same token and name for {@link #grace()}, so that the agent reconnecting gets the address its users
 * know back. Other names do not get a reserved port while a free one is left; with a {@code --port-range} that
 * has no other port free, the port reserved longest ago is given away (and logged) rather than refusing the
 * registration. Shared by every link loop, so its few short steps are synchronized; expiry follows the injected
 * clock, checked whenever it is asked (no timer). At most {@link #MAX_RESERVED} ports are held back; past that,
 * the oldest reservation goes. Whoever's port it was, a released port is handed to a new name only after the
 * range's unused ports and those released before it ({@link #releasedOldestFirst}): least recently used first.
 */
public final class PortReservations {

    private static final Logger log = LoggerFactory.getLogger(PortReservations.class);

    /** Default of {@code --port-grace}. */
    public static final Duration DEFAULT_GRACE = Duration.ofMinutes(5);
    /** Reservations kept at most (names released within the grace). */
    static final int MAX_RESERVED = 65_536;

    /** Whose port it is: the token (its SHA-256 in hex, empty without one) and the name. */
    record Owner(String token, String name) {
        static Owner of(Tunnel tunnel) {
            byte[] digest = tunnel.group().tokenDigest();
            return new Owner(digest == null ? "" : HexFormat.of().formatHex(digest), tunnel.name());
        }
    }

    /** The port of an owner: in use by {@code holder} (a listener), or released at {@code since}. */
    private record Held(int port, Object holder, Instant since, Instant previous) {
        boolean released() {
            return holder == null;
        }
    }

    private final Clock clock;
    private volatile Duration grace;
    private final Map<Owner, Held> byOwner = new HashMap<>();
    /**
     * Per port, when a listener on it last closed (whoever's), as a sequence number: new names get the ports
     * released longest ago first, so a port just given up is the last one handed to someone else. One entry per
     * port at most.
     */
    private final Map<Integer, Long> lastReleased = new HashMap<>();
    private long releases;

    public PortReservations(Clock clock, Duration grace) {
        this.clock = clock;
        this.grace = checked(grace);
    }

    private static Duration checked(Duration grace) {
        if (grace.isNegative()) {
            throw new IllegalArgumentException("the port grace must not be negative");
        }
        return grace;
    }

    /** How long a released port stays reserved; zero: not at all. */
    public Duration grace() {
        return grace;
    }

    /** Reserves released ports for {@code value} from now on (zero disables the grace). */
    public void grace(Duration value) {
        grace = checked(value);
        synchronized (this) {
            expire();
        }
    }

    /** The port {@code owner} had and may have back now, or 0. */
    synchronized int previous(Owner owner) {
        expire();
        Held held = byOwner.get(owner);
        return held != null && held.released() ? held.port() : 0;
    }

    /** The ports reserved (released, within the grace) for others than {@code owner}. */
    synchronized Set<Integer> reservedForOthers(Owner owner) {
        expire();
        Set<Integer> ports = new HashSet<>();
        for (Map.Entry<Owner, Held> entry : byOwner.entrySet()) {
            if (entry.getValue().released() && !entry.getKey().equals(owner)) {
                ports.add(entry.getValue().port());
            }
        }
        return ports;
    }

    /** The ports reserved for others than {@code owner}, released longest ago first (for an exhausted range). */
    synchronized List<Integer> reservedForOthersOldestFirst(Owner owner) {
        expire();
        List<Map.Entry<Owner, Held>> others = new ArrayList<>();
        for (Map.Entry<Owner, Held> entry : byOwner.entrySet()) {
            if (entry.getValue().released() && !entry.getKey().equals(owner)) {
                others.add(entry);
            }
        }
        others.sort(Comparator.comparing(entry -> entry.getValue().since()));
        return others.stream().map(entry -> entry.getValue().port()).toList();
    }

    /**
     * {@code holder}, a listener of {@code owner}, is bound on {@code port}: the port is in use, and a reservation
     * of someone else on it is gone (logged, with whose it was).
     */
    synchronized void bound(Owner owner, int port, Object holder) {
        expire();
        for (Iterator<Map.Entry<Owner, Held>> it = byOwner.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Owner, Held> entry = it.next();
            if (entry.getValue().port() == port && entry.getValue().released() && !entry.getKey().equals(owner)) {
                log.warn("port {} reserved for '{}' goes to '{}': no other port was free", port,
                        entry.getKey().name(), owner.name());
                it.remove();
            }
        }
        if (grace.isZero()) {
            return;
        }
        Held before = byOwner.get(owner);
        // a name back on its own port keeps its reservation's time, should this link end before it goes live
        Instant previous = before != null && before.released() && before.port() == port ? before.since() : null;
        byOwner.put(owner, new Held(port, holder, null, previous));
    }

    /**
     * {@code holder}, the listener of {@code owner}, closed: its port is reserved from now if it went live, else
     * (a registration that never finished) only the reservation it came back on stays.
     */
    synchronized void closed(Owner owner, Object holder, boolean wentLive) {
        Held held = byOwner.get(owner);
        if (held == null || held.holder() != holder) {
            return; // a newer listener of the name has its port already, or nothing was reserved
        }
        if (wentLive && !grace.isZero()) {
            byOwner.put(owner, new Held(held.port(), null, clock.instant(), null));
        } else if (held.previous() != null) {
            byOwner.put(owner, new Held(held.port(), null, held.previous(), null));
        } else {
            byOwner.remove(owner);
        }
        expire();
    }

    /** A listener on {@code port} closed: the port goes to the back of the line for names that have no port. */
    synchronized void released(int port) {
        lastReleased.put(port, ++releases);
    }

    /** The ports from {@code low} to {@code high} that were in use before, released longest ago first. */
    synchronized List<Integer> releasedOldestFirst(int low, int high) {
        List<Map.Entry<Integer, Long>> ports = new ArrayList<>();
        for (Map.Entry<Integer, Long> entry : lastReleased.entrySet()) {
            if (entry.getKey() >= low && entry.getKey() <= high) {
                ports.add(entry);
            }
        }
        ports.sort(Map.Entry.comparingByValue());
        return ports.stream().map(Map.Entry::getKey).toList();
    }

    /** Reservations held now (tests, and the bound). */
    synchronized int size() {
        return byOwner.size();
    }

    /** Drops the reservations older than the grace, and the oldest beyond {@link #MAX_RESERVED}. */
    private void expire() {
        Instant cutoff = clock.instant().minus(grace);
        byOwner.values().removeIf(held -> held.released() && !held.since().isAfter(cutoff));
        while (byOwner.size() > MAX_RESERVED) {
            var oldest = byOwner.entrySet().stream().filter(entry -> entry.getValue().released())
                    .min(Comparator.comparing(entry -> entry.getValue().since()));
            if (oldest.isEmpty()) {
                return; // all in use: live names, bounded by the agent and name limits
            }
            byOwner.remove(oldest.get().getKey());
        }
    }
}
