package io.diglett.common.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class JdkWarmUpTest {

    @Test
    void theWarmUpRunsOnADaemonThreadThatEnds() throws InterruptedException {
        Thread thread = JdkWarmUp.start();

        assertEquals(JdkWarmUp.THREAD, thread.getName());
        assertTrue(thread.isDaemon(), "a warm-up must never keep a finished program (--version, a usage error) alive");
        thread.join(30_000);
        assertFalse(thread.isAlive(), "the warm-up did not end");
    }
}
