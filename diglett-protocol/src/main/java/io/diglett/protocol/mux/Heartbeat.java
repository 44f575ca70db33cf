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
 * Keeps an idle link alive and notices a dead one. Every {@code interval} it checks when the peer was last
 * heard from: after one silent interval it sends a Ping (the peer's Pong, or any other frame, counts as
 * heard); after {@link #DEAD_AFTER_INTERVALS} silent intervals the link is declared dead, which closes it
 * through the session like any other protocol failure. Both ends run one, so a pulled cable, a NAT that
 * forgot the connection or a half-open TCP link is found within three intervals on each side.
 *
 * <p>Time comes from a {@link Ticker}, so tests drive it without waiting.
 */
public final class Heartbeat extends ChannelInboundHandlerAdapter {

    /** Silent intervals after which the link is dead. */
    public static final int DEAD_AFTER_INTERVALS = 3;

    /** Default interval between checks. */
    public static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(10);

    private final long intervalNanos;
    private final Ticker ticker;
    private ChannelHandlerContext ctx;
    private long lastHeard;
    private long pings;
    private ScheduledFuture<?> timer;

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
        lastHeard = ticker.nanoTime();
        if (ctx.channel().isActive()) {
            start();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        lastHeard = ticker.nanoTime();
        start();
        ctx.fireChannelActive();
    }

    private void start() {
        if (timer == null) {
            timer = ctx.executor().scheduleWithFixedDelay(this::tick, intervalNanos, intervalNanos,
                    TimeUnit.NANOSECONDS);
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        lastHeard = ticker.nanoTime();
        ctx.fireChannelRead(msg);
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
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    /** One check; runs every interval on the link's event loop. */
    void tick() {
        if (!ctx.channel().isActive()) {
            return;
        }
        long silent = ticker.nanoTime() - lastHeard;
        if (silent >= DEAD_AFTER_INTERVALS * intervalNanos) {
            stop();
            ctx.fireExceptionCaught(new ProtocolException("link dead: nothing heard from the peer for "
                    + TimeUnit.NANOSECONDS.toMillis(silent) + " ms"));
        } else if (silent >= intervalNanos) {
            ctx.writeAndFlush(Frame.ping(ctx.alloc(), ++pings));
        }
    }
}
