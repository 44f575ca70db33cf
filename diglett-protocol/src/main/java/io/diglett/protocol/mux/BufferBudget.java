package io.diglett.protocol.mux;

import io.netty.util.internal.PlatformDependent;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What all streams of a process may hold for their local sockets: bytes received from the link that the socket
 * has not taken yet. A stream's window bounds what one stream holds; this bounds the sum, process-wide, per link
 * (one agent) and per client address, since a client that asks for data and never reads keeps a full window
 * per connection, and a few thousand connections are cheap to open.
 *
 * <p>Three levels, each a {@link Share} with its own limit: the {@linkplain #total() total}, a
 * {@linkplain #newLinkShare() share per link} and a {@linkplain #clientShare(Object) share per client address}
 * (on the gateway). A stream charges every level for each byte it holds ({@link Holding}). Above
 * {@link #PRESSURE} of any of its limits a stream's window stops growing and shrinks towards the protocol's
 * minimum as credit goes back (the peer is granted less instead of us buffering more); over a limit, a stream that
 * would have to <em>hold</em> more bytes (its socket is not taking them) is shed: reset with a reason, its memory
 * freed. A stream whose socket takes what arrives is never shed for the budget: a stalled reader pays, not the
 * clients that read.
 *
 * <p>Thread safe: links live on several event loops. The counters are plain atomics, touched once per Payload
 * frame and once per completed socket write.
 */
public final class BufferBudget {

    private static final Logger log = LoggerFactory.getLogger(BufferBudget.class);

    /** Share of a limit above which windows shrink and stop growing. */
    public static final double PRESSURE = 0.5;

    /**
     * How long a stream may make no progress while data waits when memory is short (a limit of the budget is
     * exceeded, or the system's socket memory is near its pressure mark): its socket took nothing, its peer
     * returned no credit, or the link did not take what it read. Then it is shed after this, not after the stall
     * timeout, because what it pins elsewhere (kernel buffers of its sockets, the backend's) is what the memory is
     * short of. Half a second: three thousand clients that asked for a large file and never read opened their
     * streams within about a second, each pinning 1 to 4 MiB in its backend's send buffer (loopback), and under
     * the kernel's pressure the link, clamped to a fair share, carried 15 to 50 MB/s. Streams waiting 3 s for
     * such a link kept the host short for 6 to 8 s; at half a second, 3 to 4 s. A stream waiting for the link
     * that long behind others is one the link cannot serve soon anyway: light streams go first.
     */
    public static final java.time.Duration SHORT_STALL = java.time.Duration.ofMillis(500);

    /** Why a stream was shed; the metric's label. */
    public enum Shed {
        /** Its bytes would have gone over a limit of the budget while its socket was not taking them. */
        BUDGET("budget"),
        /** Its socket took no byte for the stall timeout while bytes waited for it. */
        STALL("stall"),
        /** Memory was short and it made no progress for {@link #SHORT_STALL} while bytes waited. */
        PRESSURE("pressure"),
        /** Memory for its bytes could not be allocated. */
        ALLOCATION("allocation");

        private final String label;

        Shed(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    private final Share total;
    private final long perLink;
    private final long perClient;
    private final ConcurrentHashMap<Object, Share> clients = new ConcurrentHashMap<>();
    private final LongAdder[] shed = new LongAdder[Shed.values().length];
    private final LongAdder shrunk = new LongAdder();
    /** Sheds since the last summary line; the log gets at most one line a second, however many streams go. */
    private final AtomicLong unlogged = new AtomicLong();
    private final AtomicLong lastLog = new AtomicLong(Long.MIN_VALUE / 2);
    private final LongSupplier nanoClock;
    /** Set by a watcher of the system's socket memory ({@code TcpMemory}) while it is near its pressure mark. */
    private volatile boolean systemPressure;
    /** Set by the same watcher from half the pressure mark: memory is getting tight, nothing is shed for it. */
    private volatile boolean systemTight;

    /**
     * @param total     bytes all streams together may hold
     * @param perLink   bytes the streams of one link (one agent) may hold
     * @param perClient bytes the streams of one client address may hold
     */
    public BufferBudget(long total, long perLink, long perClient) {
        this(total, perLink, perClient, System::nanoTime);
    }

    BufferBudget(long total, long perLink, long perClient, LongSupplier nanoClock) {
        if (total <= 0 || perLink <= 0 || perClient <= 0) {
            throw new IllegalArgumentException("budget limits must be positive");
        }
        this.total = new Share(total);
        this.perLink = Math.min(perLink, total);
        this.perClient = Math.min(perClient, total);
        this.nanoClock = nanoClock;
        for (int i = 0; i < shed.length; i++) {
            shed[i] = new LongAdder();
        }
    }

    /** No limit at all (tests, benchmarks of the mux itself). */
    public static BufferBudget unlimited() {
        return new BufferBudget(Long.MAX_VALUE, Long.MAX_VALUE, Long.MAX_VALUE);
    }

    /**
     * The default total: a quarter of the direct memory the JVM may use, where Netty's buffers live (the launchers
     * cap the heap, and with it direct memory, at 256 MiB: 64 MiB for streams). The rest is for TLS, the links'
     * queues, reads, and the pooled allocator's own slack: with 3,000 stalled clients a gateway whose streams held
     * 64 MiB had its 256 MiB of direct memory all allocated.
     */
    public static long defaultTotal() {
        long direct = PlatformDependent.maxDirectMemory();
        return Math.max(8L << 20, (direct > 0 ? direct : Runtime.getRuntime().maxMemory()) / 4);
    }

    /** The whole budget's share. */
    public Share total() {
        return total;
    }

    public long perLink() {
        return perLink;
    }

    public long perClient() {
        return perClient;
    }

    /** A share for a new link, limited to {@link #perLink()}. */
    public Share newLinkShare() {
        return new Share(perLink);
    }

    /**
     * The share of the client with address {@code key} (an {@code InetAddress}), held by one more stream until
     * {@link Holding#close()}; {@code null} without a key.
     */
    Share clientShare(Object key) {
        if (key == null) {
            return null;
        }
        return clients.compute(key, (k, share) -> {
            Share s = share == null ? new Share(perClient) : share;
            s.streams++;
            return s;
        });
    }

    private void leaveClient(Object key) {
        clients.computeIfPresent(key, (k, share) -> --share.streams == 0 ? null : share);
    }

    /** Client addresses with a stream open now (a bounded map: an entry lives as long as its streams). */
    public int clients() {
        return clients.size();
    }

    /** Starts accounting for one stream of the link whose share is {@code link}, for client {@code clientKey}. */
    Holding hold(Share link, Object clientKey) {
        return new Holding(link, clientKey, clientShare(clientKey));
    }

    /** Tells the budget whether the system's socket memory is short: stalled streams are then shed early. */
    public void systemPressure(boolean value) {
        systemPressure = value;
    }

    /**
     * Tells the budget whether the system's socket memory is getting tight (well before short): the streams'
     * sockets then keep small kernel queues ({@link FlowLimits.SocketQueue}).
     */
    public void systemTight(boolean value) {
        systemTight = value;
    }

    /** Whether the system's socket memory was last reported tight (or short). */
    public boolean systemTight() {
        return systemTight;
    }

    /** Whether the system's socket memory was last reported short. */
    public boolean systemPressure() {
        return systemPressure;
    }

    /** Streams shed for {@code why} since start. */
    public long shed(Shed why) {
        return shed[why.ordinal()].sum();
    }

    /** Credit returns that shrank a window because the budget was under pressure. */
    public long windowsShrunk() {
        return shrunk.sum();
    }

    void countShrink() {
        shrunk.increment();
    }

    /**
     * Counts a shed stream and logs a summary at most once a second (a flood of stalled clients is one line);
     * returns whether this one was logged.
     */
    boolean countShed(Shed why, String stream, String reason) {
        shed[why.ordinal()].increment();
        long pending = unlogged.incrementAndGet();
        long now = nanoClock.getAsLong();
        long last = lastLog.get();
        if (now - last >= 1_000_000_000L && lastLog.compareAndSet(last, now)) {
            long count = unlogged.getAndSet(0);
            log.warn("{} shed: {} ({} stream{} shed since the last such line; streams hold {} bytes, budget {})",
                    stream, reason, count, count == 1 ? "" : "s", total.used(),
                    total.limit() == Long.MAX_VALUE ? "unlimited" : total.limit());
            return true;
        }
        log.debug("{} shed: {} ({} not logged yet)", stream, reason, pending);
        return false;
    }

    /** One level of the budget: bytes held against a limit. */
    public static final class Share {
        private final long limit;
        private final AtomicLong used = new AtomicLong();
        /** The receive windows of the streams charged here: what their peers may make them hold at most. */
        private final AtomicLong committed = new AtomicLong();
        /** Streams holding a client share (changed only inside the map's compute). */
        private int streams;

        Share(long limit) {
            this.limit = limit;
        }

        public long limit() {
            return limit;
        }

        public long used() {
            return used.get();
        }

        void add(long bytes) {
            used.addAndGet(bytes);
        }

        /** The receive windows of the streams charged to this share, together. */
        public long committed() {
            return committed.get();
        }

        /** Whether {@code bytes} more of window keep the windows of this share within {@link #PRESSURE} of its limit. */
        boolean roomFor(long bytes) {
            return limit == Long.MAX_VALUE || committed.get() + bytes <= (long) (limit * PRESSURE);
        }

        boolean over() {
            return used.get() > limit;
        }

        double pressure() {
            return limit == Long.MAX_VALUE ? 0 : (double) used.get() / limit;
        }
    }

    /** What one stream holds, charged to the total, its link's share and its client's share. */
    final class Holding {
        private final Share link;
        private final Object clientKey;
        private final Share client;
        private long held;
        /** This stream's receive window, charged to every level's {@link Share#committed()}. */
        private int window;
        private boolean closed;

        private Holding(Share link, Object clientKey, Share client) {
            this.link = link;
            this.clientKey = clientKey;
            this.client = client;
        }

        /** Bytes this stream holds now. */
        long held() {
            return held;
        }

        void add(int bytes) {
            if (closed) {
                return;
            }
            held += bytes;
            total.add(bytes);
            link.add(bytes);
            if (client != null) {
                client.add(bytes);
            }
        }

        void remove(int bytes) {
            if (closed) {
                return;
            }
            int n = (int) Math.min(bytes, held);
            held -= n;
            total.add(-n);
            link.add(-n);
            if (client != null) {
                client.add(-n);
            }
        }

        /**
         * The receive window a new stream starts with: {@code preferred} while the windows already granted at every
         * level leave room for it within {@link #PRESSURE} of the limit, else {@code minimum}. Credit is what
         * a peer may make us hold: a burst of thousands of new streams (clients that ask for a large response
         * and never read) is then granted a budget's worth, not thousands of full windows whose bytes would
         * have to be held, or shed, once they arrived.
         */
        int openWindow(int preferred, int minimum) {
            int granted = room(preferred) ? preferred : Math.min(preferred, minimum);
            charge(granted);
            return granted;
        }

        /** Whether every level has room for {@code bytes} more of window (see {@link #openWindow}). */
        boolean room(long bytes) {
            return total.roomFor(bytes) && link.roomFor(bytes) && (client == null || client.roomFor(bytes));
        }

        /** The stream's window is now {@code window} (it grew or shrank). */
        void window(int window) {
            if (!closed) {
                charge(window - this.window);
            }
        }

        private void charge(int delta) {
            window += delta;
            total.committed.addAndGet(delta);
            link.committed.addAndGet(delta);
            if (client != null) {
                client.committed.addAndGet(delta);
            }
        }

        /** Whether any level is over its limit. */
        boolean over() {
            return total.over() || link.over() || client != null && client.over();
        }

        /** Memory is short for this stream: a level over its limit, or the system's socket memory. */
        boolean overloaded() {
            return systemPressure || over();
        }

        /**
         * Memory is tight for this stream: short, the system's socket memory past half its pressure mark, or a
         * level of its budget past {@link #PRESSURE}. Its socket then keeps a small kernel queue.
         */
        boolean tight() {
            return systemTight || overloaded() || pressure() >= PRESSURE;
        }

        /** The highest share of a limit in use, over the levels this stream is charged to. */
        double pressure() {
            double p = Math.max(total.pressure(), link.pressure());
            return client == null ? p : Math.max(p, client.pressure());
        }

        /** The stream ended: what it still holds goes back, and it leaves its client's share. */
        void close() {
            if (closed) {
                return;
            }
            remove((int) Math.min(held, Integer.MAX_VALUE));
            charge(-window);
            closed = true;
            if (clientKey != null) {
                leaveClient(clientKey);
            }
        }
    }
}
