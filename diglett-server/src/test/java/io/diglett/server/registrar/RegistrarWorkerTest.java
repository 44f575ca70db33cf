package io.diglett.server.registrar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.server.registrar.Registrar.Exposure;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * The registrar worker's order and concurrency: one name's requests in order, different names at once up to
 * the bound, the queue bounded. Requests block on latches, so what runs at once is seen, not timed.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RegistrarWorkerTest {

    private final ExecutorService threads = Executors.newCachedThreadPool();
    private final List<String> done = Collections.synchronizedList(new ArrayList<>());

    @AfterEach
    void stop() {
        threads.shutdownNow();
    }

    private RegistrarWorker worker(int concurrency) {
        return new RegistrarWorker("test", LoggerFactory.getLogger("test"), concurrency, threads);
    }

    private static Exposure exposure(String name, String agent) {
        return new Exposure(name, 1000, agent, "p");
    }

    /** Work that says it started, then waits for {@code go}, then records {@code what}. */
    private RegistrarWorker.Work blocking(String what, Semaphore started, CountDownLatch go) {
        return () -> {
            started.release();
            assertTrue(go.await(10, TimeUnit.SECONDS));
            done.add(what);
        };
    }

    @Test
    void differentNamesRunAtOnceUpToTheBoundOneNameOneAtATime() throws Exception {
        RegistrarWorker worker = worker(3);
        Semaphore started = new Semaphore(0);
        CountDownLatch go = new CountDownLatch(1);
        List<CompletableFuture<Void>> stages = new ArrayList<>();
        for (String name : List.of("a", "b", "c", "d")) {
            stages.add(worker.register(exposure(name, "1"), blocking("register " + name, started, go))
                    .toCompletableFuture());
        }
        stages.add(worker.register(exposure("a", "2"), blocking("register a again", started, go))
                .toCompletableFuture());
        assertTrue(started.tryAcquire(3, 10, TimeUnit.SECONDS), "three names at once");
        assertEquals(0, started.availablePermits(), "not a fourth: the bound is 3");
        assertTrue(done.isEmpty());
        go.countDown();
        CompletableFuture.allOf(stages.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
        assertTrue(done.indexOf("register a") < done.indexOf("register a again"), done.toString());
        assertEquals(5, done.size());
    }

    @Test
    void registerUnregisterRegisterOfOneNameEndsRegistered() throws Exception {
        RegistrarWorker worker = worker(8);
        Semaphore started = new Semaphore(0);
        CountDownLatch go = new CountDownLatch(1);
        Exposure first = exposure("a", "1");
        Exposure second = exposure("a", "2");
        CompletableFuture<Void> one = worker.register(first, blocking("register 1", started, go))
                .toCompletableFuture();
        worker.unregister(first, () -> done.add("unregister 1"));
        CompletableFuture<Void> two = worker.register(second, () -> done.add("register 2")).toCompletableFuture();
        CompletableFuture<Void> other = worker.register(exposure("b", "1"), () -> done.add("register b"))
                .toCompletableFuture();
        other.get(10, TimeUnit.SECONDS); // b does not wait for a
        assertTrue(started.tryAcquire(10, TimeUnit.SECONDS));
        assertEquals(List.of("register b"), done, "a's later requests wait for its first");
        go.countDown();
        one.get(10, TimeUnit.SECONDS);
        two.get(10, TimeUnit.SECONDS);
        assertEquals(List.of("register b", "register 1", "unregister 1", "register 2"), done);
        // the stale unregister of the first link, made late, does not undo the second registration
        worker.unregister(first, () -> done.add("stale unregister"));
        worker.register(exposure("a", "3"), () -> { }).toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertEquals(4, done.size(), "skipped: " + done);
    }

    @Test
    void aFailedRegisterFailsItsStageAndTheNextRequestOfTheNameStillRuns() throws Exception {
        RegistrarWorker worker = worker(2);
        CompletableFuture<Void> failed = worker.register(exposure("a", "1"), () -> {
            throw new IllegalStateException("hook said no");
        }).toCompletableFuture();
        worker.register(exposure("a", "2"), () -> done.add("register 2")).toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
        assertTrue(failed.isCompletedExceptionally());
        assertEquals(List.of("register 2"), done);
    }

    @Test
    void theQueueIsBoundedAcrossNamesAndFreesUpAsRequestsRun() throws Exception {
        RegistrarWorker worker = worker(1);
        Semaphore started = new Semaphore(0);
        CountDownLatch go = new CountDownLatch(1);
        worker.unregister(exposure("blocker", "1"), blocking("blocker", started, go));
        assertTrue(started.tryAcquire(10, TimeUnit.SECONDS));
        CountDownLatch lastRan = new CountDownLatch(1);
        for (int i = 1; i < RegistrarWorker.MAX_QUEUED - 1; i++) {
            worker.unregister(exposure("n" + (i % 100), "1"), () -> { });
        }
        worker.unregister(exposure("last", "1"), lastRan::countDown);
        CompletableFuture<Void> refused = worker.register(exposure("z", "1"), () -> done.add("z"))
                .toCompletableFuture();
        assertTrue(refused.isCompletedExceptionally(), "the bound holds");
        go.countDown();
        assertTrue(lastRan.await(10, TimeUnit.SECONDS), "one thread runs them all, in order");
        worker.register(exposure("z", "1"), () -> done.add("z")).toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertEquals(List.of("blocker", "z"), done, "room again once they ran, in order with one thread");
    }
}
