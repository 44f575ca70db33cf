package io.diglett.agent;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Reconnect delays: doubling from half a second, jittered within the upper half of each step, capped. */
class BackoffTest {

    @Test
    void doublesWithJitterUpToTheCapAndStartsOverAfterReset() {
        Backoff backoff = new Backoff(Duration.ofSeconds(30), new SplittableRandom(7));
        long[] steps = {500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000};
        for (long step : steps) {
            long delay = backoff.nextMillis();
            assertTrue(delay >= step / 2 && delay <= step, "delay " + delay + " for step " + step);
        }
        backoff.reset();
        long first = backoff.nextMillis();
        assertTrue(first >= 250 && first <= 500, "after a reset: " + first);
    }

    @Test
    void jitterSpreadsAgentsThatLostTheirLinkAtOnce() {
        java.util.Set<Long> delays = new java.util.HashSet<>();
        SplittableRandom seeds = new SplittableRandom(1);
        for (int agent = 0; agent < 50; agent++) {
            Backoff backoff = new Backoff(Duration.ofSeconds(30), new SplittableRandom(seeds.nextLong()));
            backoff.nextMillis();
            backoff.nextMillis();
            delays.add(backoff.nextMillis());
        }
        assertTrue(delays.size() > 40, "50 agents drew only " + delays.size() + " distinct delays");
    }
}
