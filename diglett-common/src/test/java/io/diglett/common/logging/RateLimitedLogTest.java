package io.diglett.common.logging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.AbstractLogger;
import org.slf4j.helpers.MessageFormatter;

class RateLimitedLogTest {

    /** A logger that keeps its lines, formatted, with their level. */
    static final class Lines extends AbstractLogger {
        private static final long serialVersionUID = 1L;
        final List<String> lines = new ArrayList<>();

        Lines() {
            this.name = "test";
        }

        @Override
        protected String getFullyQualifiedCallerName() {
            return null;
        }

        @Override
        protected synchronized void handleNormalizedLoggingCall(Level level, Marker marker, String format,
                                                                Object[] args, Throwable t) {
            lines.add(level + " " + MessageFormatter.basicArrayFormat(format, args));
        }

        synchronized List<String> lines() {
            return List.copyOf(lines);
        }

        @Override
        public boolean isTraceEnabled() {
            return true;
        }

        @Override
        public boolean isTraceEnabled(Marker marker) {
            return true;
        }

        @Override
        public boolean isDebugEnabled() {
            return true;
        }

        @Override
        public boolean isDebugEnabled(Marker marker) {
            return true;
        }

        @Override
        public boolean isInfoEnabled() {
            return true;
        }

        @Override
        public boolean isInfoEnabled(Marker marker) {
            return true;
        }

        @Override
        public boolean isWarnEnabled() {
            return true;
        }

        @Override
        public boolean isWarnEnabled(Marker marker) {
            return true;
        }

        @Override
        public boolean isErrorEnabled() {
            return true;
        }

        @Override
        public boolean isErrorEnabled(Marker marker) {
            return true;
        }
    }

    @Test
    void writesTheFirstLineThenAtMostOneAnIntervalSayingHowManyWereLeftOut() {
        Lines out = new Lines();
        AtomicLong now = new AtomicLong(5_000_000_000L);
        RateLimitedLog limited = new RateLimitedLog(out, Duration.ofSeconds(1), now::get);
        limited.warn("refused {}: {}", "10.0.0.1", "full");
        for (int i = 0; i < 999; i++) {
            now.addAndGet(1_000_000); // 1 ms apart: 999 ms in all
            limited.warn("refused {}: {}", "10.0.0." + i, "full");
        }
        assertEquals(List.of("WARN refused 10.0.0.1: full"), out.lines());
        assertEquals(999, limited.suppressed());
        now.addAndGet(1_000_000);
        limited.info("refused {}: {}", "10.0.0.9", "full");
        assertEquals(List.of("WARN refused 10.0.0.1: full",
                "INFO refused 10.0.0.9: full (999 more like this left out in 1.0 s)"), out.lines());
        assertEquals(0, limited.suppressed());
        now.addAndGet(3_000_000_000L);
        limited.warn("quiet again");
        assertEquals("WARN quiet again", out.lines().get(2), "nothing was left out since the last line");
    }

    @Test
    void manyThreadsAtOnceWriteOneLineAndCountTheRest() throws InterruptedException {
        Lines out = new Lines();
        RateLimitedLog limited = new RateLimitedLog(out, Duration.ofHours(1), System::nanoTime);
        int threads = 8;
        int each = 10_000;
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> running = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread thread = new Thread(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < each; i++) {
                    limited.warn("line {}", i);
                }
            });
            thread.start();
            running.add(thread);
        }
        start.countDown();
        for (Thread thread : running) {
            thread.join();
        }
        assertEquals(1, out.lines().size());
        // a line counted as left out just before the winner wrote may be reported in that very line: every one
        // is counted once, in the line or in what is left for the next
        java.util.regex.Matcher reported = java.util.regex.Pattern.compile("\\((\\d+) more like this left out")
                .matcher(out.lines().get(0));
        long inLine = reported.find() ? Long.parseLong(reported.group(1)) : 0;
        assertEquals(threads * each - 1, limited.suppressed() + inLine);
    }

    @Test
    void anIntervalMustBePositive() {
        assertThrows(IllegalArgumentException.class, () -> new RateLimitedLog(new Lines(), Duration.ZERO, () -> 0));
    }
}
