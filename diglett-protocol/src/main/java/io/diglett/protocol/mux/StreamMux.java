package io.diglett.protocol.mux;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.Signals;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.util.collection.IntObjectHashMap;
import io.netty.util.collection.IntObjectMap;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The streams of one link, keyed by stream id, and the link-wide parts of flow control: stream frames are
 * dispatched here, writes to the link are flushed once per event-loop turn (sooner past {@link #FLUSH_AT_BYTES}),
 * and streams resume reading when the link becomes writable again. Confined to the link's event loop.
 */
public final class StreamMux {

    private static final Logger log = LoggerFactory.getLogger(StreamMux.class);

    private final Channel link;
    private final int receiveWindow;
    private final int windowUpdateThreshold;
    /** Largest receive window a stream may grow to (see {@link Stream} on window growth). */
    private final int maxWindow;
    /** Bytes of window growth this link's streams may still take: what bounds the growth's memory. */
    private long growthLeft;
    private final IntObjectMap<Stream> streams = new IntObjectHashMap<>();
    private final List<Stream> localFlushes = new ArrayList<>();
    private boolean linkFlushScheduled;
    /** Payload bytes written to the link since it was last flushed. */
    private long unflushedBytes;
    private final Runnable linkFlush = this::flushLink;
    private final Consumer<String> overloaded;
    private Runnable whenEmpty;
    private int queuedControl;
    private final ChannelFutureListener controlWritten = f -> queuedControl--;
    private final FlowLimits limits;
    /** This link's share of the process's buffer budget (its session's, when several links share one). */
    private BufferBudget.Share linkShare;
    /** Streams with data read that wait for the link to become writable, in the order they stopped. */
    private final LinkedHashSet<Stream> waitingForLink = new LinkedHashSet<>();
    /**
     * Of the streams waiting for the link, those that sent little lately ({@link Stream#light}): they go first, so
     * a small response does not wait behind the bulk of every busy stream (thousands of streams filling their
     * windows for clients that never read, or a few downloads).
     */
    private final LinkedHashSet<Stream> lightWaitingForLink = new LinkedHashSet<>();
    /** The stream not limited by its window that last received on the link, and when ({@link #nanoTime()}). */
    private Stream lastSmall;
    private long lastSmallAt = Long.MIN_VALUE / 2;
    /** When a stream other than {@link #lastSmall} that is not limited by its window last received. */
    private long otherSmallAt = Long.MIN_VALUE / 2;

    /** Looks for stalled streams twice a second while the link has streams; {@code null} while it has none. */
    private ScheduledFuture<?> stallSweep;

    /** How often the streams are looked at for stalls: four times a second (half {@link BufferBudget#SHORT_STALL}). */
    static final long SWEEP_MILLIS = 250;

    /**
     * How long after a stream that its window does not limit last received a grown window counts its link as
     * shared with it ({@link #sharedWithSmall}).
     */
    static final long SHARED_NANOS = 100_000_000L;

    /** Control frames that may wait unwritten on a link before its peer is judged not to read (as in HTTP/2). */
    public static final int MAX_QUEUED_CONTROL_FRAMES = 10_000;

    /** A stream's receive window may grow to this many times the initial window (at most {@link #MAX_GROWN_WINDOW}). */
    public static final int GROWTH_FACTOR = 16;
    /** Cap of a grown window: 4 MiB, what a bulk transfer needs on a loaded two-core machine (docs/benchmarks.md). */
    public static final int MAX_GROWN_WINDOW = 4 << 20;
    /** Window growth all streams of one link may hold at once, in grown windows: four streams at full size. */
    public static final int GROWN_WINDOWS_PER_LINK = 4;

    /**
     * @param link          the agent link
     * @param receiveWindow bytes each stream lets its peer send ahead (advertised in Open / Ok)
     */
    public StreamMux(Channel link, int receiveWindow) {
        this(link, receiveWindow, reason -> link.close());
    }

    /**
     * @param link          the agent link
     * @param receiveWindow bytes each stream lets its peer send ahead (advertised in Open / Ok)
     * @param overloaded    told why, when the peer makes us queue more control frames than it reads
     */
    public StreamMux(Channel link, int receiveWindow, Consumer<String> overloaded) {
        this(link, receiveWindow, overloaded, FlowLimits.unbounded());
    }

    /**
     * @param link          the agent link
     * @param receiveWindow bytes each stream lets its peer send ahead (advertised in Open / Ok)
     * @param overloaded    told why, when the peer makes us queue more control frames than it reads
     * @param limits        the buffer budget and stall timeout the link's streams are held to
     */
    public StreamMux(Channel link, int receiveWindow, Consumer<String> overloaded, FlowLimits limits) {
        this.overloaded = overloaded;
        this.limits = limits;
        this.linkShare = limits.budget().newLinkShare();
        if (receiveWindow < Protocol.MIN_WINDOW) {
            throw new IllegalArgumentException("window " + receiveWindow + " below " + Protocol.MIN_WINDOW);
        }
        this.link = link;
        this.receiveWindow = receiveWindow;
        this.maxWindow = Math.max(receiveWindow, (int) Math.min((long) receiveWindow * GROWTH_FACTOR, MAX_GROWN_WINDOW));
        this.growthLeft = (long) (maxWindow - receiveWindow) * GROWN_WINDOWS_PER_LINK;
        // Return credit in quarters of the window: few Window frames, and the sender never runs dry while
        // a quarter is being acknowledged. This is the quarter of the initial window; a grown stream uses a
        // quarter of its own (Stream#written).
        this.windowUpdateThreshold = Math.max(1, receiveWindow / 4);
    }

    /** Creates a stream in state OPENING; the caller attaches its socket and opens it. */
    public Stream create(int id, String label) {
        return create(id, label, StreamObserver.NONE);
    }

    /** Creates a stream in state OPENING, watched by {@code observer}. */
    public Stream create(int id, String label, StreamObserver observer) {
        return create(id, label, observer, null);
    }

    /**
     * Creates a stream in state OPENING, watched by {@code observer}, whose bytes count against the budget share
     * of client {@code clientKey} (its address; {@code null} for none).
     */
    public Stream create(int id, String label, StreamObserver observer, Object clientKey) {
        if (streams.containsKey(id)) {
            throw new ProtocolException("stream " + Integer.toUnsignedString(id) + " is already open");
        }
        Stream stream = new Stream(this, id, label, observer, limits.budget().hold(linkShare, clientKey));
        streams.put(id, stream);
        if (stallSweep == null) {
            stallSweep = link.eventLoop().scheduleAtFixedRate(this::sweepStalled, SWEEP_MILLIS, SWEEP_MILLIS,
                    TimeUnit.MILLISECONDS);
        }
        return stream;
    }

    /** The budget this link's streams are held to. */
    public BufferBudget budget() {
        return limits.budget();
    }

    /** This link's share of the budget: what its streams hold now. */
    public BufferBudget.Share linkShare() {
        return linkShare;
    }

    /**
     * Counts this link's streams against {@code share} from now on, instead of a share of its own: the links of one
     * agent's session hold one share together, so more links do not mean more memory. Only before the first stream.
     */
    public void shareLinkBudget(BufferBudget.Share share) {
        if (!streams.isEmpty()) {
            throw new IllegalStateException("the link has streams already");
        }
        linkShare = share;
    }

    long nanoTime() {
        return limits.nanoClock().getAsLong();
    }

    /**
     * Resets every stream whose socket accepted no byte for the stall timeout while bytes waited for it; and
     * while memory is short for a stream, one stuck for {@link BufferBudget#SHORT_STALL}: its socket took nothing,
     * its peer returned no credit, or the link did not take what it read (a link clamped by the kernel's memory
     * pressure: the connections the stuck streams hold are what the memory is short of). Runs four times a second
     * while the link has streams; tests call it with their own clock.
     */
    void sweepStalled() {
        if (streams.isEmpty()) {
            return;
        }
        long timeout = limits.stallTimeout().toNanos();
        long shortTimeout = BufferBudget.SHORT_STALL.toNanos();
        long now = nanoTime();
        List<Stream> stalled = null;
        for (Stream stream : streams.values()) {
            stream.socketQueueFor(stream.memoryTight(), limits.sockets());
            long stalledFor = stream.stalledFor(now);
            if (stalledFor > 0 && timeout > 0 && stalledFor >= timeout
                    || stream.memoryShort() && (stalledFor >= shortTimeout
                    || stream.creditStalledFor(now) >= shortTimeout || stream.linkStalledFor(now) >= shortTimeout)) {
                if (stalled == null) {
                    stalled = new ArrayList<>();
                }
                stalled.add(stream);
            }
        }
        if (stalled != null) {
            for (Stream stream : stalled) {
                if (timeout > 0 && stream.stalledFor(now) >= timeout) {
                    stream.shed(BufferBudget.Shed.STALL, "the socket accepted no byte for "
                            + limits.stallTimeout().toSeconds() + " s while data waited for it");
                } else {
                    String stuck = stream.stalledFor(now) >= shortTimeout ? "socket"
                            : stream.creditStalledFor(now) >= shortTimeout ? "peer" : "link";
                    stream.shed(BufferBudget.Shed.PRESSURE, "memory is short and the " + stuck + " took no byte for "
                            + BufferBudget.SHORT_STALL.toMillis() + " ms while data waited for it");
                }
            }
        }
    }

    public Stream get(int id) {
        return streams.get(id);
    }

    public boolean contains(int id) {
        return streams.containsKey(id);
    }

    /** Number of streams not yet closed. */
    public int size() {
        return streams.size();
    }

    public int receiveWindow() {
        return receiveWindow;
    }

    int windowUpdateThreshold() {
        return windowUpdateThreshold;
    }

    /** Largest receive window a stream of this link may grow to. */
    public int maxWindow() {
        return maxWindow;
    }

    /** Window growth the link's streams may still take, in bytes. */
    public long growthLeft() {
        return growthLeft;
    }

    /** Takes up to {@code wanted} bytes of window growth from the link's budget; returns what was granted. */
    int takeGrowth(int wanted) {
        int granted = (int) Math.min(wanted, growthLeft);
        growthLeft -= Math.max(granted, 0);
        return Math.max(granted, 0);
    }

    /** A stream that grew its window by {@code bytes} ended: the growth goes back to the link's budget. */
    void returnGrowth(int bytes) {
        growthLeft += bytes;
    }

    ByteBufAllocator alloc() {
        return link.alloc();
    }

    /** The link's event loop, where every stream of the link runs. */
    io.netty.channel.EventLoop executor() {
        return link.eventLoop();
    }

    boolean linkWritable() {
        return link.isWritable();
    }

    /** Removes {@code stream}; false if it was not (or no longer) in the mux. */
    boolean remove(Stream stream) {
        if (!streams.remove(stream.id(), stream)) {
            return false;
        }
        if (lastSmall == stream) {
            lastSmall = null; // its time stays: it received lately all the same
        }
        if (streams.isEmpty() && stallSweep != null) {
            stallSweep.cancel(false);
            stallSweep = null;
        }
        if (streams.isEmpty() && whenEmpty != null) {
            Runnable action = whenEmpty;
            whenEmpty = null;
            action.run();
        }
        return true;
    }

    /** Runs {@code action} once no stream is left: now if there is none, else when the last one ends. */
    public void whenEmpty(Runnable action) {
        if (streams.isEmpty()) {
            action.run();
        } else {
            whenEmpty = action;
        }
    }

    /**
     * Handles a Payload, Window, Fin or Close frame and takes ownership of it; returns {@code false}, leaving
     * the frame to the caller, for any other kind. Frames for an unknown stream (one that was just reset and
     * whose peer had not yet seen the Close) are dropped.
     */
    public boolean onFrame(Frame frame) {
        FrameKind kind = frame.kind();
        if (!isStreamFrame(kind)) {
            return false;
        }
        Stream stream = streams.get(frame.id());
        if (stream == null) {
            log.trace("dropping {} for unknown stream", frame);
            frame.release();
            return true;
        }
        switch (kind) {
            case PAYLOAD -> stream.onPayload(frame.content());
            case WINDOW -> {
                int increment;
                try {
                    increment = Signals.WindowUpdate.increment(frame);
                } finally {
                    frame.release();
                }
                stream.onWindow(increment);
            }
            case FIN -> {
                frame.release();
                stream.onFin();
            }
            default -> {
                String reason;
                try {
                    reason = Signals.Reason.decode(frame).text();
                } finally {
                    frame.release();
                }
                stream.reset(reason.isEmpty() ? "reset by peer" : reason, false);
            }
        }
        return true;
    }

    /** Whether frames of this kind belong to an open stream: Payload, Window, Fin, Close. */
    public static boolean isStreamFrame(FrameKind kind) {
        return kind == FrameKind.PAYLOAD || kind == FrameKind.WINDOW || kind == FrameKind.FIN
                || kind == FrameKind.CLOSE;
    }

    /** Queues a Payload (or another frame bounded by flow control) on the link; {@link #flushLinkLater()} sends it. */
    public void write(Frame frame) {
        unflushedBytes += frame.content().readableBytes();
        link.write(frame, link.voidPromise());
    }

    /**
     * Queues a control frame that answers the peer (Pong, Window, Close, replies to requests). A peer that
     * keeps asking without reading the answers would grow our outbound buffer without limit: beyond
     * {@link #MAX_QUEUED_CONTROL_FRAMES} unwritten control frames the link is failed instead.
     *
     * @return whether the frame was queued
     */
    public boolean writeControl(Frame frame) {
        if (queuedControl >= MAX_QUEUED_CONTROL_FRAMES) {
            frame.release();
            overloaded.accept("the peer is not reading: " + MAX_QUEUED_CONTROL_FRAMES + " control frames queued");
            return false;
        }
        queuedControl++;
        link.write(frame).addListener(controlWritten);
        return true;
    }

    /** Control frames queued and not yet written to the socket. */
    public int queuedControlFrames() {
        return queuedControl;
    }

    /** {@code stream} received a Payload. */
    void received(Stream stream) {
        long now = nanoTime();
        if (stream.windowLimited(now)) {
            return;
        }
        if (stream != lastSmall) {
            otherSmallAt = lastSmallAt;
            lastSmall = stream;
        }
        lastSmallAt = now;
    }

    /**
     * Whether a stream other than {@code stream} that is not limited by its window (a request, a small response,
     * an interactive session) received on the link within {@link #SHARED_NANOS}. A grown window then gives its
     * growth back and does not grow: what a download's peer may send ahead waits in this side's socket buffer
     * and read batches in front of every other stream's frames, so its window is the queue a small response
     * waits behind (a 4 MiB window: several ms on loopback, seconds on a slow uplink). Alone on the link, or
     * beside streams limited by their windows, it grows as before.
     */
    boolean sharedWithSmall(Stream stream) {
        long smallAt = stream == lastSmall ? otherSmallAt : lastSmallAt;
        return nanoTime() - smallAt < SHARED_NANOS;
    }

    /**
     * Payload bytes written to the link that make {@link #flushLinkLater} flush at once. A turn of the event loop
     * can run long at many connections: Netty's io_uring handler goes on handling completions, submitting the
     * operations they queue whenever a pass finds none, for up to 128 passes before it runs a task, and the
     * scheduled flush is a task. A hand A/B at 1,000 connections (docs/benchmarks.md, 2026-12-06, later): p99
     * 115 ms against 174 ms (median of nine rounds each), and no change beside a download or beside 1,000
     * stalled readers. Below it, frames of all the streams a turn serves still share one flush, and their TLS
     * records and writes; a request or a small response never reaches it alone.
     */
    static final int FLUSH_AT_BYTES = 64 * 1024;

    /**
     * Flushes the link once, after everything this event-loop turn writes, or at once when
     * {@link #FLUSH_AT_BYTES} wait for it.
     */
    public void flushLinkLater() {
        if (unflushedBytes >= FLUSH_AT_BYTES) {
            unflushedBytes = 0;
            link.flush(); // a flush already scheduled stays so: it sends what the rest of the turn writes
            return;
        }
        if (!linkFlushScheduled) {
            linkFlushScheduled = true;
            link.eventLoop().execute(linkFlush);
        }
    }

    private void flushLink() {
        linkFlushScheduled = false;
        unflushedBytes = 0;
        link.flush();
    }

    void flushLocalLater(Stream stream) {
        if (!stream.flushQueued) {
            stream.flushQueued = true;
            localFlushes.add(stream);
        }
    }

    /** The link's read batch is over: flush what it wrote to local sockets. */
    public void linkReadComplete() {
        for (int i = 0; i < localFlushes.size(); i++) {
            localFlushes.get(i).flushLocal();
        }
        localFlushes.clear();
    }

    /** {@code stream} has data to send and the link is not writable: it goes on once the link is. */
    void waitForLink(Stream stream) {
        (stream.light(nanoTime()) ? lightWaitingForLink : waitingForLink).add(stream);
    }

    /** {@code stream} ended while it waited for the link. */
    void stopWaiting(Stream stream) {
        if (!lightWaitingForLink.remove(stream)) {
            waitingForLink.remove(stream);
        }
    }

    /**
     * The link's writability changed: streams that stopped for it send what they hold, those that sent little
     * lately first, each kind in the order they stopped, as long as the link stays writable (one read each at
     * most, so what the link queues stays near its high mark however many streams wait); then the streams paused
     * for it may read again.
     */
    public void linkWritabilityChanged() {
        while (link.isWritable() && !(lightWaitingForLink.isEmpty() && waitingForLink.isEmpty())) {
            Iterator<Stream> first = (lightWaitingForLink.isEmpty() ? waitingForLink : lightWaitingForLink)
                    .iterator();
            Stream waiting = first.next();
            first.remove();
            waiting.resumeSending();
        }
        if (link.isWritable()) {
            for (Stream stream : new ArrayList<>(streams.values())) {
                stream.requestRead();
            }
        }
    }

    /** The link is gone: every stream is reset, its socket aborted. */
    public void closeAll(String reason) {
        if (stallSweep != null) {
            stallSweep.cancel(false);
            stallSweep = null;
        }
        waitingForLink.clear();
        lightWaitingForLink.clear();
        linkReadComplete();
        for (Stream stream : new ArrayList<>(streams.values())) {
            stream.reset(reason, false);
        }
    }
}
