package io.diglett.common.logging;

import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * One kind of log line that may come in a flood (a refusal per connection, a timeout per client): at most one
 * line per interval is written, and the next line written says how many were left out since the previous one.
 * Exact figures belong in metrics; the log only shows that it happens, and an example.
 *
 * <p>Safe from any thread without locking (event loops of several links share one): a line is written by the
 * caller that moves the next allowed time on, the others only count themselves. Keep one instance per kind of
 * line, created once:
 *
 * <pre>{@code
 * private final RateLimitedLog refusals = RateLimitedLog.perSecond(log);
 * ...
 * refusals.warn("connection from {} refused: {}", address, reason);
 * // connection from 10.0.0.7 refused: 16 pending logins from this address (1843 more like this left out in 1.0 s)
 * }</pre>
 *
 * <p>The count is appended as extra arguments, so pass an exception as text ({@code e.toString()}), not as the
 * trailing Throwable slf4j would print a stack trace for: a stack trace per second is a flood of its own.
 */
public final class RateLimitedLog {

    private final Logger log;
    private final long intervalNanos;
    private final LongSupplier nanoClock;
    /** When the next line may be written, in {@link #nanoClock} time. */
    private final AtomicLong nextAt;
    /** Lines left out since the last one written. */
    private final AtomicLong suppressed = new AtomicLong();
    /** When the last line was written, to say over how long the left-out lines came. */
    private volatile long lastAt;

    /**
     * @param log       where the lines go
     * @param interval  at most one line per this much time
     * @param nanoClock monotonic time in nanoseconds ({@code System::nanoTime}; tests pass their own)
     */
    public RateLimitedLog(Logger log, Duration interval, LongSupplier nanoClock) {
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("the interval must be positive");
        }
        this.log = log;
        this.intervalNanos = interval.toNanos();
        this.nanoClock = nanoClock;
        long now = nanoClock.getAsLong();
        this.nextAt = new AtomicLong(now);
        this.lastAt = now;
    }

    /** At most one line a second on {@code log}, on the system's monotonic clock. */
    public static RateLimitedLog perSecond(Logger log) {
        return new RateLimitedLog(log, Duration.ofSeconds(1), System::nanoTime);
    }

    /** Logs at WARN unless a line was written less than an interval ago. */
    public void warn(String format, Object... args) {
        if (log.isWarnEnabled()) {
            Object[] line = take(format, args);
            if (line != null) {
                log.warn((String) line[0], Arrays.copyOfRange(line, 1, line.length));
            }
        }
    }

    /** Logs at INFO unless a line was written less than an interval ago. */
    public void info(String format, Object... args) {
        if (log.isInfoEnabled()) {
            Object[] line = take(format, args);
            if (line != null) {
                log.info((String) line[0], Arrays.copyOfRange(line, 1, line.length));
            }
        }
    }

    /** Lines left out since the last one written (for tests and diagnostics). */
    public long suppressed() {
        return suppressed.get();
    }

    /**
     * The format and arguments to write now, with the count of lines left out appended, or {@code null} if this
     * line is to be left out.
     */
    private Object[] take(String format, Object[] args) {
        long now = nanoClock.getAsLong();
        long next = nextAt.get();
        if (now - next < 0 || !nextAt.compareAndSet(next, now + intervalNanos)) {
            suppressed.incrementAndGet();
            return null;
        }
        long left = suppressed.getAndSet(0);
        long since = now - lastAt;
        lastAt = now;
        Object[] line = new Object[args.length + (left == 0 ? 1 : 3)];
        System.arraycopy(args, 0, line, 1, args.length);
        if (left == 0) {
            line[0] = format;
        } else {
            line[0] = format + " ({} more like this left out in {} s)";
            line[args.length + 1] = left;
            line[args.length + 2] = String.format(java.util.Locale.ROOT, "%.1f", since / 1e9);
        }
        return line;
    }
}
