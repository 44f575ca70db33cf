package io.diglett.protocol.mux;

import io.diglett.protocol.Frame;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.Reasons;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One multiplexed stream: a local socket (the public client on the gateway, the backend on the agent) bridged
 * to the link, with credit-based flow control in both directions. Installed in the local socket's pipeline
 * under {@link HandlerNames#STREAM}; runs on the link's event loop, like everything of one link, so it needs
 * no locks.
 *
 * <p>Socket to link: the local socket has auto-read off; the stream asks for the next read only while it has
 * send credit, nothing unsent, and the link is writable. What one read brings beyond the credit waits in
 * {@code unsent} (one read buffer) until a Window frame returns credit. One exception, bounded by the
 * socket's kernel receive buffer: when the peer half-closes, epoll reads up to the end of input even with
 * auto-read off, and that data waits in {@code unsent} too, also while the stream is still OPENING.
 *
 * <p>Link to socket: Payload frames are written to the local socket; their bytes are returned to the peer as
 * credit only when the write has completed, so a socket that does not drain stops its peer's sender after one
 * window and nothing grows.
 *
 * <p>The local socket may live on another event loop than the link (the gateway's HTTP ingress accepts a
 * connection before it knows which agent it is for): the stream handler is then added with the link's loop as
 * its executor, and every socket callback (write completions, timers) hops back to the link's loop, so the
 * stream's state is still touched by one thread only.
 */
public final class Stream extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(Stream.class);

    /**
     * Over the budget, a stream whose socket is behind is shed only if it took no byte for this long either: a
     * client that reads, however slowly, keeps its stream.
     */
    static final long PROGRESS_GRACE_NANOS = 1_000_000_000L;

    /** A stream that sent less than this in the last second is light: it goes first on a busy link. */
    static final int LIGHT_BYTES = 16 * 1024;

    /** Gathered bytes go to a backed-up socket in writes of at most this much, so each completion is progress. */
    private static final int HELD_WRITE = 64 * 1024;

    /** How long a finished stream's socket may take to accept its last bytes before it is aborted. */
    static final long LINGER_SECONDS = 60;

    /**
     * How a stream ends its local socket; called on the link's loop. The default ({@link #TCP}) half-closes the
     * socket's output on the peer's FIN and aborts it with an RST on a reset; the gateway's HTTP ingress answers
     * with an error page instead when the client has not had a response yet.
     */
    public interface LocalEnd {
        /** The peer sent FIN and everything before it was written: the socket gets no more data. */
        void outputDone(Channel local);

        /** The stream was reset (the peer's Close, a refused open, a lost link): end the socket now. */
        void reset(Channel local, String reason);
    }

    /** Plain TCP: FIN becomes a half-close of the socket, a reset an RST. */
    public static final LocalEnd TCP = new LocalEnd() {
        @Override
        public void outputDone(Channel local) {
            if (local instanceof DuplexChannel duplex) {
                duplex.shutdownOutput();
            } else {
                local.close();
            }
        }

        @Override
        public void reset(Channel local, String reason) {
            abort(local);
        }
    };

    private final StreamMux mux;
    private final int id;
    private final String label;
    private Channel local;
    private LocalEnd end = TCP;
    /** The socket lives on another event loop than the link: its callbacks hop to the link's loop. */
    private boolean crossLoop;
    private StreamState state = StreamState.OPENING;

    /** Bytes we may still send before the peer returns credit. */
    private int sendCredit;
    /** Read from the local socket, not yet sent for lack of credit: at most one read's worth. */
    private final ArrayDeque<ByteBuf> unsent = new ArrayDeque<>(2);
    private int unsentBytes;
    /** The unsent buffer, if any, that is a fresh socket read with room for a frame header ({@link StreamReads}). */
    private ByteBuf roomy;
    /** The local socket's input ended; FIN goes out once {@link #unsent} is empty. */
    private boolean localInputEnded;

    /** Our receive window: the initial one, grown while the stream is limited by it (see {@link #written}). */
    private int window;
    /** Bytes the peer may still send: our window minus what is in flight or not yet written. */
    private int receiveCredit;
    /** Written to the local socket, not yet returned to the peer as credit. */
    private int consumed;
    private int pendingWriteBytes;
    /** Of {@link #pendingWriteBytes}, those written since the socket was last flushed. */
    private int unflushedBytes;
    /** Payload for the socket while it is not writable, written in one piece when it is again. */
    private ByteBuf held;
    /** What to do (shut down or close the socket) once {@link #held} is written. */
    private Runnable afterHeld;
    private ChannelFuture lastWrite;
    /** Aborts a finished stream whose socket does not take its last bytes. */
    private java.util.concurrent.ScheduledFuture<?> linger;
    boolean flushQueued;

    private final StreamObserver observer;
    /** Both FINs were exchanged before the stream left the mux. */
    private boolean finished;
    /** What this stream holds for its socket, charged to the process's budget (see {@link BufferBudget}). */
    private final BufferBudget.Holding holding;
    /** Window growth taken from the link's growth budget, given back when the window shrinks or the stream ends. */
    private int growth;
    /**
     * When the peer last had half of the initial window or more outstanding, or had nearly used up the window by
     * the time credit went back ({@link StreamMux#nanoTime()}): a transfer limited by its window, a download, not
     * a request or a small response (whose bytes go back as credit long before that).
     */
    private long windowLimitedAt = Long.MIN_VALUE / 2;
    /** When the socket last took bytes, or bytes started waiting for it ({@link StreamMux#nanoTime()}). */
    private long lastProgress;
    /** When the send credit ran out ({@link StreamMux#nanoTime()}); meaningless while there is credit. */
    private long creditSpentAt;
    /** Whether the local socket's kernel queue was last sized for memory being tight ({@link #socketQueueFor}). */
    private boolean socketQueueTight;
    /** In the mux's queue of streams waiting for the link to become writable. */
    private boolean waitingForLink;
    /** When this stream last started waiting for the link ({@link StreamMux#nanoTime()}). */
    private long waitingSince;
    /** Bytes sent to the link since {@link #recentSince}, a window of a second (see {@link #light}). */
    private long recentBytes;
    private long recentSince = Long.MIN_VALUE / 2;

    Stream(StreamMux mux, int id, String label, StreamObserver observer, BufferBudget.Holding holding) {
        this.mux = mux;
        this.id = id;
        this.label = label;
        this.observer = observer;
        this.holding = holding;
        this.window = holding.openWindow(mux.receiveWindow(), Protocol.MIN_WINDOW);
        this.receiveCredit = window;
    }

    /**
     * Write buffer marks for a stream's socket: up to a window of queued writes (what the peer may send ahead
     * anyway, per-write bookkeeping included); above it, payloads are gathered in one buffer until the socket
     * drains.
     */
    public static WriteBufferWaterMark socketWaterMark(int window) {
        return new WriteBufferWaterMark(window / 2, window);
    }

    public int id() {
        return id;
    }

    public StreamState state() {
        return state;
    }

    /** The local socket, or {@code null} while the agent is still connecting it. */
    public Channel local() {
        return local;
    }

    /** This side's receive window for the stream: the initial one, or what it grew to. */
    public int window() {
        return window;
    }

    /** Bytes the peer may still send on this stream. */
    public int receiveCredit() {
        return receiveCredit;
    }

    /** Bytes this side may still send. */
    public int sendCredit() {
        return sendCredit;
    }

    /** Bytes held for this stream on this side: read but unsent, plus written to the socket but not drained. */
    public long bufferedBytes() {
        return (long) unsentBytes + pendingWriteBytes + (held == null ? 0 : held.readableBytes());
    }

    /**
     * Binds the local socket (auto-read must be off). A socket that is already gone resets the stream.
     */
    public void attach(Channel channel) {
        attach(channel, TCP);
    }

    /**
     * Binds the local socket, ended the way {@code end} says. The socket may belong to another event loop; the
     * stream handler then runs on the link's loop all the same. Call on the link's loop.
     */
    // addLast(EventExecutorGroup, ...), which runs the handler on the link's loop, is deprecated since Netty 4.2
    // (hand-made offloading recommended) but works there; replacing it is a change of its own.
    @SuppressWarnings("deprecation")
    public void attach(Channel channel, LocalEnd end) {
        if (local != null) {
            throw new IllegalStateException("stream " + id + " already has a socket");
        }
        local = channel;
        this.end = end;
        channel.config().setAutoRead(false);
        if (state == StreamState.CLOSED) {
            end.reset(channel, "stream closed before its socket was attached");
            return;
        }
        if (window != mux.receiveWindow()) {
            // the listener's marks are for the usual window; this stream started smaller (see BufferBudget)
            channel.config().setWriteBufferWaterMark(socketWaterMark(window));
        }
        crossLoop = channel.eventLoop() != mux.executor();
        if (!crossLoop) {
            StreamReads.install(channel.config());
            channel.pipeline().addLast(HandlerNames.STREAM, this);
        } else {
            channel.pipeline().addLast(mux.executor(), HandlerNames.STREAM, this);
        }
        if (!channel.isActive()) {
            reset("local connection lost", true);
        }
    }

    /** Runs a socket callback on the link's loop (it may come from the socket's own loop). */
    private void onLinkLoop(Runnable action) {
        if (!crossLoop || mux.executor().inEventLoop()) {
            action.run();
        } else {
            mux.executor().execute(action);
        }
    }

    /** The peer accepted the stream and grants {@code window} bytes of send credit: data may flow. */
    public void opened(int window) {
        if (state != StreamState.OPENING) {
            throw new ProtocolException("stream " + Integer.toUnsignedString(id) + " opened twice");
        }
        if (window < Protocol.MIN_WINDOW) {
            throw new ProtocolException("stream " + Integer.toUnsignedString(id) + " window " + window
                    + " below the minimum " + Protocol.MIN_WINDOW);
        }
        sendCredit = window;
        state = StreamState.OPEN;
        observer.opened();
        log.debug("stream={} {} open, send window {}", id, label, window);
        drain();
        requestRead();
    }

    // ---------------------------------------------------------------- local socket -> link

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        // OPENING counts: the socket may deliver data before the stream is open (epoll reads a peer's
        // half-close with what precedes it even with auto-read off); it waits in unsent until opened().
        boolean accepting = state == StreamState.OPENING || state.canSend();
        if (!(msg instanceof ByteBuf buf) || !accepting || localInputEnded || !buf.isReadable()) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (StreamReads.isFreshRead(ctx.channel(), buf)) {
            roomy = buf;
        }
        unsent.add(buf);
        unsentBytes += buf.readableBytes();
        drain();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        requestRead();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == ChannelInputShutdownEvent.INSTANCE) {
            localInputEnded = true;
            drain();
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (linger != null) {
            linger.cancel(false);
        }
        releaseHeld();
        reset("connection closed", true);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("stream={} {} socket error: {}", id, label, cause.toString());
        reset(Reasons.of(cause), true);
    }

    /** Sends unsent data as far as credit allows, then the FIN if the socket's input has ended. */
    private void drain() {
        if (!state.canSend()) {
            return;
        }
        boolean wrote = false;
        if (sendCredit > 0 && !unsent.isEmpty() && !mux.linkWritable()) {
            // The link holds enough for now: what was read waits here (one read at most), and the mux lets the
            // waiting streams go on in turn once the link drains, so its queue stays near its high mark however
            // many streams have data.
            if (!waitingForLink) {
                waitingForLink = true;
                waitingSince = mux.nanoTime();
                mux.waitForLink(this);
            }
            return;
        }
        while (sendCredit > 0 && !unsent.isEmpty()) {
            ByteBuf head = unsent.peek();
            int n = Math.min(Math.min(head.readableBytes(), sendCredit), Protocol.MAX_PAYLOAD);
            ByteBuf chunk = n == head.readableBytes() ? unsent.poll() : head.readRetainedSlice(n);
            unsentBytes -= n;
            sendCredit -= n;
            if (sendCredit == 0) {
                creditSpentAt = mux.nanoTime();
            }
            if (chunk == roomy) {
                // the whole read buffer, its header room untouched: header and payload go out as one buffer
                roomy = null;
                mux.write(Frame.payloadWithHeaderRoom(id, chunk));
            } else {
                if (head == roomy) {
                    // a first part of it went out: the bytes in front of the rest are that part's, not free
                    roomy = null;
                }
                mux.write(Frame.payload(id, chunk));
            }
            observer.sent(n);
            countSent(n);
            wrote = true;
        }
        if (localInputEnded && unsent.isEmpty()) {
            sendFin();
        } else if (wrote) {
            mux.flushLinkLater();
        }
    }

    /**
     * Whether this stream sent less than {@link #LIGHT_BYTES} in the current second, what waits to be sent
     * included: a request, a small response, an interactive session, not a bulk transfer (whose first read alone
     * is 64 KiB). Light streams go first on a busy link.
     */
    boolean light(long now) {
        long recent = now - recentSince >= 1_000_000_000L ? 0 : recentBytes;
        return recent + unsentBytes < LIGHT_BYTES;
    }

    private void countSent(int n) {
        long now = mux.nanoTime();
        if (now - recentSince >= 1_000_000_000L) {
            recentSince = now;
            recentBytes = 0;
        }
        recentBytes += n;
    }

    /** The link became writable again after this stream stopped for it: send what waits, then read on. */
    void resumeSending() {
        waitingForLink = false;
        drain();
        requestRead();
    }

    /** Asks the local socket for more data if this stream may send it now. */
    void requestRead() {
        if (local != null && state.canSend() && !localInputEnded && unsent.isEmpty() && sendCredit > 0
                && mux.linkWritable()) {
            local.read();
        }
    }

    private void sendFin() {
        mux.write(Frame.fin(id));
        mux.flushLinkLater();
        if (state == StreamState.OPEN) {
            state = StreamState.HALF_CLOSED_LOCAL;
        } else {
            finish();
        }
    }

    // ---------------------------------------------------------------- link -> local socket

    void onPayload(ByteBuf data) {
        int n = data.readableBytes();
        if (!state.canReceive()) {
            data.release();
            throw new ProtocolException("data on stream " + Integer.toUnsignedString(id) + " in state " + state);
        }
        if (n > receiveCredit) {
            data.release();
            throw new ProtocolException("stream " + Integer.toUnsignedString(id) + " overran its window: "
                    + n + " bytes with " + receiveCredit + " credit left");
        }
        receiveCredit -= n;
        if (window - receiveCredit >= mux.receiveWindow() / 2) {
            // the peer sent half a window ahead of the credit returned: a transfer, not a request or response
            windowLimitedAt = mux.nanoTime();
        }
        mux.received(this);
        if (bufferedTowardSocket() == 0) {
            lastProgress = mux.nanoTime();
        }
        holding.add(n);
        // Over the budget, a stream whose socket is behind (it has not taken what was flushed to it) is the one
        // that goes, not the link and not the streams whose sockets take their bytes.
        if (holding.over() && socketBehind() && mux.nanoTime() - lastProgress >= PROGRESS_GRACE_NANOS) {
            data.release();
            shed(BufferBudget.Shed.BUDGET, "buffer budget exhausted and its socket is not taking data ("
                    + holding.held() + " bytes waiting for it)");
            return;
        }
        if (held == null && local.isWritable()) {
            writeLocal(data);
            return;
        }
        // Keep the bytes in one buffer instead of queueing one write per frame, so a peer sending many tiny
        // frames costs bytes, not per-write bookkeeping. Bounded by the window.
        try {
            if (held == null) {
                // up to the largest window: this one may grow while the socket is still backed up
                held = mux.alloc().buffer(Math.max(n, 1024), mux.maxWindow());
            }
            held.writeBytes(data);
        } catch (OutOfMemoryError e) {
            // direct memory is short: this stream goes, the link and its other streams stay
            shed(BufferBudget.Shed.ALLOCATION, "no memory for its data: " + e.getMessage());
        } finally {
            data.release();
        }
    }

    /** Whether the socket has not taken bytes already flushed to it: its kernel buffer is full. */
    private boolean socketBehind() {
        return held != null || pendingWriteBytes > unflushedBytes || !local.isWritable();
    }

    /** Bytes received for the socket that it has not taken yet. */
    private long bufferedTowardSocket() {
        return (long) pendingWriteBytes + (held == null ? 0 : held.readableBytes());
    }

    /**
     * How long bytes have waited for the socket without it taking any: 0 when nothing waits. A stream whose
     * socket stalls that long is {@linkplain StreamMux#sweepStalled() reset}.
     */
    long stalledFor(long now) {
        return bufferedTowardSocket() == 0 ? 0 : now - lastProgress;
    }

    /** How long this stream's read data has waited for the link to become writable: 0 when it is not waiting. */
    long linkStalledFor(long now) {
        return waitingForLink ? now - waitingSince : 0;
    }

    /**
     * How long this stream has waited for credit from its peer (whose socket takes nothing, or slowly): 0 while
     * it has credit or cannot send anyway.
     */
    long creditStalledFor(long now) {
        return sendCredit == 0 && state.canSend() && !localInputEnded ? now - creditSpentAt : 0;
    }

    /**
     * Tells {@code sockets} when memory became tight for this stream, or no longer is, so that the transport
     * holds the local socket's kernel queue smaller meanwhile: a client that reads nothing is then found stuck,
     * and shed, after its window instead of after the window and a kernel queue of it.
     */
    void socketQueueFor(boolean tight, FlowLimits.SocketQueue sockets) {
        if (tight != socketQueueTight && local != null && local.isOpen()) {
            socketQueueTight = tight;
            sockets.memoryTight(local, tight);
        }
    }

    /** Whether memory is tight for this stream (see {@link BufferBudget.Holding#tight()}). */
    boolean memoryTight() {
        return holding.tight();
    }

    /** Whether memory is short for this stream: a level of its budget is over its limit, or the system's. */
    boolean memoryShort() {
        return holding.overloaded();
    }

    /** Resets the stream for {@code why}, counted and logged (at most a line a second) by the budget. */
    void shed(BufferBudget.Shed why, String reason) {
        mux.budget().countShed(why, "stream=" + Integer.toUnsignedString(id) + " " + label, reason);
        reset(reason, true);
    }

    private void writeLocal(ByteBuf data) {
        int n = data.readableBytes();
        pendingWriteBytes += n;
        unflushedBytes += n;
        ChannelFuture write = local.write(data);
        lastWrite = write;
        // one listener per write on the hot path; the hop only for a socket on another loop (the ingress)
        write.addListener(crossLoop ? f -> onLinkLoop(() -> written(n, f)) : f -> written(n, f));
        mux.flushLocalLater(this);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (held != null && ctx.channel().isWritable()) {
            ByteBuf bytes = held;
            held = null;
            try {
                while (bytes.isReadable()) {
                    writeLocal(bytes.readRetainedSlice(Math.min(bytes.readableBytes(), HELD_WRITE)));
                }
            } finally {
                bytes.release();
            }
            unflushedBytes = 0;
            local.flush();
            Runnable action = afterHeld;
            afterHeld = null;
            if (action != null) {
                afterWrites(action);
            }
        }
        ctx.fireChannelWritabilityChanged();
    }

    private void written(int n, io.netty.util.concurrent.Future<?> f) {
        pendingWriteBytes -= n;
        holding.remove(n);
        lastProgress = mux.nanoTime();
        if (!f.isSuccess()) {
            log.debug("stream={} {} write failed", id, label, f.cause());
            reset("write failed: " + Reasons.of(f.cause()), true);
            return;
        }
        observer.received(n);
        if (!state.canReceive()) {
            return;
        }
        consumed += n;
        // Credit goes back in quarters of the current window: a grown window returns it in larger steps, so a
        // 4 MiB window costs one Window frame (and one wake-up of the sender) per MiB, not per 64 KiB.
        if (consumed >= window / 4) {
            if (receiveCredit < mux.windowUpdateThreshold()) {
                windowLimitedAt = mux.nanoTime();
            }
            int increment;
            if (holding.pressure() >= BufferBudget.PRESSURE) {
                int cut = shrink(Protocol.MIN_WINDOW);
                if (cut > 0) {
                    mux.budget().countShrink();
                }
                increment = consumed - cut;
            } else if (mux.sharedWithSmall(this)) {
                // growth only: down to the window it opened with (the initial one, or less if the budget had
                // no room then), so all of its growth goes back to the link
                increment = consumed - (growth > 0 ? shrink(window - growth) : 0);
            } else {
                increment = consumed + grow();
            }
            consumed = 0;
            if (increment > 0) {
                receiveCredit += increment;
                // not counted as a control frame: flow control itself bounds Window frames (one per quarter)
                mux.write(Frame.window(mux.alloc(), id, increment));
                mux.flushLinkLater();
            }
        }
    }

    /** Whether this stream was found limited by its window within the last second: a transfer. */
    boolean windowLimited(long now) {
        return now - windowLimitedAt < 1_000_000_000L;
    }

    /**
     * The window shrinks by up to half of what was consumed, down to {@code floor}, and the peer gets that much
     * less credit back. Growth goes back to the link first. Two reasons: the buffer budget is under pressure
     * (down to the protocol's minimum), or streams that are not limited by their windows (requests, small
     * responses) receive on the link too (down to the window it opened with, see
     * {@link StreamMux#sharedWithSmall}).
     *
     * @return the bytes of credit withheld
     */
    private int shrink(int floor) {
        int cut = Math.min(consumed / 2, window - floor);
        if (cut <= 0) {
            return 0;
        }
        window -= cut;
        holding.window(window);
        int returned = Math.min(cut, growth);
        growth -= returned;
        mux.returnGrowth(returned);
        local.config().setWriteBufferWaterMark(socketWaterMark(window));
        log.debug("stream={} {} window shrunk to {}", id, label, window);
        return cut;
    }

    /**
     * Window growth, granted as extra credit with a credit return. The window is what limits a stream when the
     * peer has used up nearly all of it by the time credit goes back (less than a quarter of the initial window
     * left, the size of an ungrown window's credit return): the sender waits
     * for credit, as in a fast transfer whose credit round trip (two processes' scheduling, the TLS on both ends)
     * takes longer than the window lasts. Such a stream doubles its window, up to {@link StreamMux#maxWindow()},
     * as long as the link's growth budget lasts. A sender slower than the window never grows one, and a reader
     * that stops returns no credit, so it grows nothing either; a reader slower than the link may grow its
     * stream's window, which the budget bounds. Memory stays bounded by the initial window per stream plus the
     * link's budget, which a stream gives back when it ends. The socket's write-buffer marks follow the window,
     * so what flow control lets in is queued, not gathered in {@link #held}.
     */
    private int grow() {
        if (window >= mux.maxWindow() || receiveCredit >= mux.windowUpdateThreshold()) {
            return 0;
        }
        int wanted = Math.min(window, mux.maxWindow() - window);
        if (!holding.room(wanted)) {
            return 0;
        }
        int granted = mux.takeGrowth(wanted);
        if (granted > 0) {
            window += granted;
            holding.window(window);
            growth += granted;
            local.config().setWriteBufferWaterMark(socketWaterMark(window));
            log.debug("stream={} {} window grown to {}", id, label, window);
        }
        return granted;
    }

    void flushLocal() {
        flushQueued = false;
        unflushedBytes = 0;
        if (local != null) {
            local.flush();
        }
    }

    void onWindow(int increment) {
        if (increment <= 0 || (long) sendCredit + increment > Integer.MAX_VALUE) {
            throw new ProtocolException("bad window increment " + Integer.toUnsignedString(increment)
                    + " on stream " + Integer.toUnsignedString(id));
        }
        if (state == StreamState.OPENING) {
            throw new ProtocolException("window on stream " + Integer.toUnsignedString(id) + " before it opened");
        }
        sendCredit += increment;
        drain();
        requestRead();
    }

    void onFin() {
        switch (state) {
            case OPEN -> {
                state = StreamState.HALF_CLOSED_REMOTE;
                afterWrites(this::shutdownLocalOutput);
            }
            case HALF_CLOSED_LOCAL -> finish();
            default -> throw new ProtocolException("FIN on stream " + Integer.toUnsignedString(id)
                    + " in state " + state);
        }
    }

    private void shutdownLocalOutput() {
        if (state == StreamState.CLOSED) {
            return;
        }
        end.outputDone(local);
    }

    /** Both FINs exchanged: close the socket once what was written to it has drained. */
    private void finish() {
        state = StreamState.CLOSED;
        finished = true;
        // stays in the mux (and counts against its limits) until the socket has taken the last bytes and closed
        releaseUnsent();
        log.debug("stream={} {} closed", id, label);
        afterWrites(() -> local.close());
        // a client that never takes the last bytes does not get to hold the socket (and a window) for ever
        linger = mux.executor().schedule(() -> {
            if (local.isOpen()) {
                log.debug("stream={} {} last bytes not taken within {} s, aborting", id, label, LINGER_SECONDS);
                reset("linger timeout", false);
            }
        }, LINGER_SECONDS, TimeUnit.SECONDS);
    }

    private void afterWrites(Runnable action) {
        if (held != null) {
            afterHeld = action;
            return;
        }
        ChannelFuture last = lastWrite;
        if (last == null || last.isDone()) {
            action.run();
        } else {
            last.addListener(f -> onLinkLoop(action));
        }
    }

    // ---------------------------------------------------------------- reset

    /**
     * Ends the stream at once in both directions. With {@code notifyPeer} a Close frame tells the peer; the
     * local socket, if any, is aborted (RST) so its client can tell a cut stream from a complete one.
     */
    public void reset(String reason, boolean notifyPeer) {
        if (state == StreamState.CLOSED) {
            // finished, perhaps still writing its last bytes to a slow socket: a reset ends that too
            releaseHeld();
            leave(reason);
            if (local != null && local.isOpen()) {
                end.reset(local, reason);
            }
            return;
        }
        state = StreamState.CLOSED;
        leave(reason);
        releaseUnsent();
        releaseHeld();
        log.debug("stream={} {} reset ({}): {}", id, label, notifyPeer ? "local" : "remote", reason);
        if (notifyPeer) {
            // not a control frame: a stream closes once, so Close frames are bounded by the streams (a sweep that
            // sheds ten thousand stalled streams at once must not look like a peer that does not read)
            mux.write(Frame.close(mux.alloc(), id, reason));
            mux.flushLinkLater();
        }
        if (local != null) {
            end.reset(local, reason);
        }
    }

    /** Leaves the mux (once) and tells the observer how the stream ended. */
    private void leave(String reason) {
        if (mux.remove(this)) {
            mux.returnGrowth(growth);
            growth = 0;
            holding.close();
            if (waitingForLink) {
                waitingForLink = false;
                mux.stopWaiting(this);
            }
            observer.closed(finished, finished ? null : reason);
        }
    }

    /** Closes {@code channel} with an RST (SO_LINGER 0), so its peer can tell a cut stream from a complete one. */
    public static void abort(Channel channel) {
        if (channel.isActive()) {
            try {
                channel.config().setOption(ChannelOption.SO_LINGER, 0);
            } catch (RuntimeException ignored) {
                // not a TCP socket (tests): a plain close will do
            }
        }
        channel.close();
    }

    private void releaseUnsent() {
        roomy = null;
        ByteBuf buf;
        while ((buf = unsent.poll()) != null) {
            buf.release();
        }
        unsentBytes = 0;
    }

    private void releaseHeld() {
        if (held != null) {
            held.release();
            held = null;
        }
        afterHeld = null;
    }

    @Override
    public String toString() {
        return "Stream(" + Integer.toUnsignedString(id) + ", " + label + ", " + state + ")";
    }
}
