package io.diglett.protocol.mux;

import io.diglett.protocol.Frame;
import io.diglett.protocol.ProtocolException;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.concurrent.ScheduledFuture;
import io.netty.util.concurrent.Ticker;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Keeps an idle link alive and notices a dead one. The peer counts as heard when any frame arrives (its Pong to
 * our Ping, or anything else). After one silent interval a Ping is sent, after two another; at
 * {@link #DEAD_AFTER_INTERVALS} silent intervals the link is declared dead, which closes it through the session
 * like any other protocol failure. Both ends run one, so a pulled cable, a NAT that forgot the connection or a
 * half-open TCP link is found three intervals after the peer was last heard, on each side.
 *
 * <p>There is no fixed polling period: the one timer is always set for the next moment something is due
 * (last heard + 1, 2 or 3 intervals), so detection does not wait for the next check of a fixed schedule (which
 * made it take three to four intervals). A read only records the time; when the timer finds that the peer was
 * heard in the meantime it simply sets itself again, so a busy link costs one timer run per interval.
 *
 * <p>Time comes from a {@link Ticker}, so tests drive it without waiting; the timer runs on the link's event
 * loop, scheduled with delays measured on that ticker.
 */
public final class Heartbeat extends ChannelInboundHandlerAdapter {

    /** Silent intervals after which the link is dead. */
    public static final int DEAD_AFTER_INTERVALS = 3;

    /** Default heartbeat interval. */
    public static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(10);

    private final long intervalNanos;
    private final Ticker ticker;
    private ChannelHandlerContext ctx;
    private long lastHeard;
    /** Pings sent since the peer was last heard (at most DEAD_AFTER_INTERVALS - 1). */
    private int unanswered;
    private long pings;
    private ScheduledFuture<?> timer;
    private boolean stopped;

    public Heartbeat(Duration interval) {
        this(interval, Ticker.systemTicker());
    }

    public Heartbeat(Duration interval, Ticker ticker) {
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("heartbeat interval must be positive");
        }
        this.intervalNanos = interval.toNanos();
        this.ticker = ticker;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        heard();
        if (ctx.channel().isActive()) {
            schedule();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        heard();
        schedule();
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        heard();
        ctx.fireChannelRead(msg);
    }

    private void heard() {
        lastHeard = ticker.nanoTime();
        unanswered = 0;
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        stop();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        stop();
    }

    private void stop() {
        stopped = true;
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    /** Sets the timer for the next moment something is due: the next Ping, or the link's death. */
    private void schedule() {
        if (stopped) {
            return;
        }
        long due = lastHeard + (unanswered + 1L) * intervalNanos;
        long delay = Math.max(0, due - ticker.nanoTime());
        timer = ctx.executor().schedule(this::tick, delay, TimeUnit.NANOSECONDS);
    }

    /** Nanoseconds until the timer runs next; for tests. */
    long nextCheckInNanos() {
        return timer == null ? -1 : timer.getDelay(TimeUnit.NANOSECONDS);
    }

    /** The timer: runs on the link's event loop when a Ping or the death of the link is due. */
    void tick() {
        timer = null;
        if (stopped || !ctx.channel().isActive()) {
            return;
        }
        long silent = ticker.nanoTime() - lastHeard;
        if (silent >= DEAD_AFTER_INTERVALS * intervalNanos) {
            stop();
            ctx.fireExceptionCaught(new ProtocolException("link dead: nothing heard from the peer for "
                    + TimeUnit.NANOSECONDS.toMillis(silent) + " ms"));
            return;
        }
        // a Ping after each whole silent interval before the last; none if the peer was heard since the timer
        // was set (it then runs early and just sets itself again)
        long owed = Math.min(silent / intervalNanos, DEAD_AFTER_INTERVALS - 1);
        if (owed > unanswered) {
            unanswered = (int) owed;
            ctx.writeAndFlush(Frame.ping(ctx.alloc(), ++pings));
        }
        schedule();
    }
}
