package io.diglett.common.logging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** {@link RateLimitedLog}: one line per interval, the rest counted and reported with the next line. */
class RateLimitedLogTest {

    private final List<String> lines = new ArrayList<>();
    private final AtomicLong clock = new AtomicLong(1_000);

    private RateLimitedLog log() {
        return new RateLimitedLog((format, args) -> {
            synchronized (lines) {
                lines.add(format + " " + List.of(args));
            }
        }, Duration.ofSeconds(1), clock::get);
    }

    @Test
    void aBurstWritesOneLineAndTheNextLineSaysHowManyWereLeftOut() {
        RateLimitedLog log = log();
        assertTrue(log.log("refused {}", 1));
        for (int i = 2; i <= 1000; i++) {
            assertFalse(log.log("refused {}", i));
        }
        assertEquals(List.of("refused {} [1]"), lines);
        assertEquals(999, log.suppressed());
        clock.addAndGet(Duration.ofMillis(999).toNanos());
        assertFalse(log.log("refused {}", 1001));
        clock.addAndGet(Duration.ofMillis(1).toNanos());
        assertTrue(log.log("refused {}", 1002));
        assertEquals("refused {} ({} more like it not logged) [1002, 1000]", lines.get(1));
        assertEquals(0, log.suppressed());
        clock.addAndGet(Duration.ofSeconds(5).toNanos());
        assertTrue(log.log("quiet again"));
        assertEquals("quiet again []", lines.get(2));
    }

    @Test
    void threadsTogetherWriteOneLinePerIntervalAndLoseNoCount() throws Exception {
        RateLimitedLog log = log();
        int threads = 4;
        int each = 10_000;
        CountDownLatch done = new CountDownLatch(threads);
        AtomicLong written = new AtomicLong();
        for (int t = 0; t < threads; t++) {
            new Thread(() -> {
                for (int i = 0; i < each; i++) {
                    if (log.log("x")) {
                        written.incrementAndGet();
                    }
                }
                done.countDown();
            }).start();
        }
        done.await();
        assertEquals(1, written.get());
        assertEquals(threads * each - 1, log.suppressed());
    }
}
