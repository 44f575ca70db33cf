package io.diglett.agent;

import java.time.Duration;
import java.util.random.RandomGenerator;

/**
 * Delays between reconnect attempts: exponential from {@link #FIRST}, capped, with jitter so that many agents
 * cut off at once do not return at once. Each delay is drawn from the upper half of its exponential step
 * ("equal jitter"): never less than half the step, so the backoff still grows.
 */
final class Backoff {

    static final Duration FIRST = Duration.ofMillis(500);

    private final long capMillis;
    private final RandomGenerator random;
    private int attempt;

    Backoff(Duration cap, RandomGenerator random) {
        this.capMillis = Math.max(FIRST.toMillis(), cap.toMillis());
        this.random = random;
    }

    /** The delay before the next attempt. */
    long nextMillis() {
        long step = Math.min(capMillis, FIRST.toMillis() << Math.min(attempt, 20));
        attempt++;
        long half = step / 2;
        return half + random.nextLong(step - half + 1);
    }

    /** The link came up: start again from the first step next time. */
    void reset() {
        attempt = 0;
    }
}
