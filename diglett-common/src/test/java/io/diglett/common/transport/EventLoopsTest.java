package io.diglett.common.transport;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.EventLoopGroup;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class EventLoopsTest {

    @Test
    @Timeout(30)
    void aGroupWhoseLoopIsStuckDoesNotHoldTheStopPastItsBound() throws InterruptedException {
        EventLoopGroup group = Transport.NIO.newGroup(1, "stuck-loop-test");
        CountDownLatch running = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        group.execute(() -> {
            running.countDown();
            awaitQuietly(release);
        });
        assertTrue(running.await(5, TimeUnit.SECONDS));
        long start = System.nanoTime();

        boolean stopped = EventLoops.stop(group, 300, TimeUnit.MILLISECONDS);

        long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertFalse(stopped, "the loop is still in its task");
        assertTrue(waited < 5_000, "returned after " + waited + " ms");
        release.countDown();
        assertTrue(group.terminationFuture().await(5, TimeUnit.SECONDS), "stops once the task ends");
    }

    @Test
    void aGroupThatStopsIsReportedStopped() {
        EventLoopGroup group = Transport.best().newGroup(2, "stopping-loop-test");
        group.next().execute(() -> { });

        assertTrue(EventLoops.stop(group, 10, TimeUnit.SECONDS));
        assertTrue(group.isTerminated());
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
