package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.server.TestServers.Backend;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Many short connections through one tunnel for a minute: none may fail, and nothing may grow between the end of
 * the warm-up and the end: the live heap after a collection stays within 10%, open file descriptors do not grow.
 * Both are measured with the tunnel idle (the clients pause for the first measurement, and have stopped for the
 * second), so connections in flight count in neither.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class SoakTests {

    private static final long DURATION_MILLIS = Long.getLong("diglett.soak.millis", 60_000);
    private static final long WARM_UP_MILLIS = DURATION_MILLIS / 4;
    private static final int CLIENTS = 4;

    /**
     * Descriptors the JVM itself may open after the first measurement and keep: it opens a class-path jar the
     * first time it loads a class from it, and code that first runs at the end (the test's own reporting, say)
     * can touch one or two jars that nothing touched before. Connections leaked by the tunnel grow by
     * thousands here (every connection holds three descriptors through the tunnel), so this hides none.
     */
    private static final int JVM_FDS_MARGIN = 2;

    /** Clients run while set; the test clears it to pause them for the first measurement. */
    private volatile boolean running = true;
    private final Object pause = new Object();
    private int paused;

    @Test
    void shortConnectionsForAMinuteWithoutFailureOrGrowth() throws Exception {
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture()) {
            int port = fixture.expose("soak", echo.port());
            AtomicLong done = new AtomicLong();
            AtomicLong failed = new AtomicLong();
            List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            long start = System.nanoTime();
            long end = start + TimeUnit.MILLISECONDS.toNanos(DURATION_MILLIS);
            List<Thread> clients = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                Thread client = new Thread(() -> {
                    byte[] message = "short connection".getBytes(StandardCharsets.UTF_8);
                    while (System.nanoTime() < end) {
                        if (!running && !waitWhilePaused()) {
                            return;
                        }
                        try (Socket socket = TestServers.connect(port)) {
                            socket.setSoTimeout(10_000);
                            socket.getOutputStream().write(message);
                            socket.shutdownOutput();
                            byte[] answer = socket.getInputStream().readAllBytes();
                            if (answer.length != message.length) {
                                throw new IOException("short answer: " + answer.length + " bytes");
                            }
                            done.incrementAndGet();
                        } catch (IOException e) {
                            failed.incrementAndGet();
                            if (failures.size() < 5) {
                                failures.add(e.toString());
                            }
                        }
                    }
                }, "soak-client-" + c);
                client.start();
                clients.add(client);
            }

            // warm-up, then the first measurement with the clients paused
            TunnelTests.waitFor(() -> System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(WARM_UP_MILLIS)
                    || !failures.isEmpty(), "the warm-up is over", WARM_UP_MILLIS + 10_000);
            running = false;
            TunnelTests.waitFor(this::allPaused, "every client paused", 20_000);
            long fdsAfterWarmUp = settledFileDescriptors();
            long heapAfterWarmUp = liveHeap();
            long countAfterWarmUp = done.get();
            long measuredFrom = System.nanoTime();
            synchronized (pause) {
                running = true;
                pause.notifyAll();
            }

            for (Thread client : clients) {
                client.join(DURATION_MILLIS + 30_000);
            }
            double seconds = (System.nanoTime() - measuredFrom) / 1e9;
            long fdsAtEnd = settledFileDescriptors();
            long heapAtEnd = liveHeap();
            double rate = (done.get() - countAfterWarmUp) / seconds;
            System.out.printf("soak: sustained %.0f connections/s through one tunnel (%d clients, %d connections"
                    + " in %.1f s after a %d s warm-up; %d in all); failures %d; live heap %d -> %d bytes (%+.1f%%);"
                    + " open fds %d -> %d%n", rate, CLIENTS, done.get() - countAfterWarmUp, seconds,
                    WARM_UP_MILLIS / 1000, done.get(), failed.get(), heapAfterWarmUp, heapAtEnd,
                    100.0 * (heapAtEnd - heapAfterWarmUp) / heapAfterWarmUp, fdsAfterWarmUp, fdsAtEnd);
            assertEquals(0, failed.get(), "failed connections: " + failures);
            assertTrue(done.get() > 1_000, "only " + done.get() + " connections");
            assertTrue(heapAtEnd <= heapAfterWarmUp * 1.10,
                    "live heap grew by more than 10%, from " + heapAfterWarmUp + " to " + heapAtEnd + " bytes");
            assertTrue(fdsAtEnd <= fdsAfterWarmUp + JVM_FDS_MARGIN,
                    "open fds grew from " + fdsAfterWarmUp + " to " + fdsAtEnd);
        }
    }

    /** A client's wait while paused; false if the test ended meanwhile. */
    private boolean waitWhilePaused() {
        synchronized (pause) {
            paused++;
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                for (long left; !running && (left = deadline - System.nanoTime()) > 0; ) {
                    pause.wait(TimeUnit.NANOSECONDS.toMillis(left) + 1);
                }
                return running;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            } finally {
                paused--;
            }
        }
    }

    private boolean allPaused() {
        synchronized (pause) {
            return paused == CLIENTS;
        }
    }

    /**
     * The live heap: the smallest heap use seen over five full collections in a row, so that what one collection
     * leaves behind by chance (objects promoted or allocated by other threads just then) does not count.
     */
    private static long liveHeap() {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            memory.gc();
            used = Math.min(used, memory.getHeapMemoryUsage().getUsed());
        }
        return used;
    }

    /**
     * Open file descriptors once the last connections have been closed on every side: the count polled until it
     * stays the same for 200 ms (at most 10 s).
     */
    private static long settledFileDescriptors() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        long last = openFileDescriptors();
        long stableSince = System.nanoTime();
        while (System.nanoTime() < deadline && System.nanoTime() - stableSince < TimeUnit.MILLISECONDS.toNanos(200)) {
            Thread.sleep(20);
            long now = openFileDescriptors();
            if (now != last) {
                last = now;
                stableSince = System.nanoTime();
            }
        }
        return last;
    }

    private static long openFileDescriptors() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }
}
