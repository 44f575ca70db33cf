package io.diglett.common.logging;

import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * A log line that a flood of events (refused connections, say) writes at most once per interval: the first
 * event of an interval is logged, the others are counted, and the next line that is written says how many were
 * left out since the previous one. Thread safe without a lock, so event loops can share one instance; metrics,
 * not this, count every event.
 */
public final class RateLimitedLog {

    /** Where a line goes: an slf4j level method such as {@code logger::warn}. */
    @FunctionalInterface
    public interface Sink {
        void log(String format, Object... args);
    }

    private final Sink sink;
    private final long intervalNanos;
    private final LongSupplier nanoClock;
    /** When the next line may be written (nano clock). */
    private final AtomicLong nextAt;
    /** Events left out since the last line written. */
    private final AtomicLong suppressed = new AtomicLong();

    /** At most one line per {@code interval} to {@code sink}, timed by {@code nanoClock}. */
    public RateLimitedLog(Sink sink, Duration interval, LongSupplier nanoClock) {
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("the interval must be positive");
        }
        this.sink = sink;
        this.intervalNanos = interval.toNanos();
        this.nanoClock = nanoClock;
        this.nextAt = new AtomicLong(nanoClock.getAsLong());
    }

    /** Warnings on {@code logger}, at most one a second. */
    public static RateLimitedLog warn(Logger logger) {
        return new RateLimitedLog(logger::warn, Duration.ofSeconds(1), System::nanoTime);
    }

    /** Info lines on {@code logger}, at most one a second. */
    public static RateLimitedLog info(Logger logger) {
        return new RateLimitedLog(logger::info, Duration.ofSeconds(1), System::nanoTime);
    }

    /**
     * Logs the line (slf4j format) if none was written within the interval, with the number of lines left out
     * since the last one appended; otherwise only counts it.
     *
     * @return whether the line was written
     */
    public boolean log(String format, Object... args) {
        long now = nanoClock.getAsLong();
        long next = nextAt.get();
        if (now - next < 0 || !nextAt.compareAndSet(next, now + intervalNanos)) {
            suppressed.incrementAndGet();
            return false;
        }
        long left = suppressed.getAndSet(0);
        if (left == 0) {
            sink.log(format, args);
        } else {
            Object[] more = Arrays.copyOf(args, args.length + 1);
            more[args.length] = left;
            sink.log(format + " ({} more like it not logged)", more);
        }
        return true;
    }

    /** Lines left out since the last one written. */
    public long suppressed() {
        return suppressed.get();
    }
}
