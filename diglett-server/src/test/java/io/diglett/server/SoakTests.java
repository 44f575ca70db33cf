package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.server.TestServers.Backend;
import java.io.IOException;
import java.lang.management.ManagementFactory;
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
 * Many short connections through one tunnel for a minute: none may fail, and nothing may grow (live heap after
 * a collection, open file descriptors) between the end of the warm-up and the end.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class SoakTests {

    private static final long DURATION_MILLIS = Long.getLong("diglett.soak.millis", 60_000);
    private static final long WARM_UP_MILLIS = DURATION_MILLIS / 4;
    private static final int CLIENTS = 4;

    @Test
    void shortConnectionsForAMinuteWithoutFailureOrGrowth() throws Exception {
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture()) {
            int port = fixture.expose("soak", echo.port());
            AtomicLong done = new AtomicLong();
            AtomicLong failed = new AtomicLong();
            List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(DURATION_MILLIS);
            List<Thread> clients = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                Thread client = new Thread(() -> {
                    byte[] message = "short connection".getBytes(StandardCharsets.UTF_8);
                    while (System.nanoTime() < end) {
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
            Thread.sleep(WARM_UP_MILLIS);
            long heapAfterWarmUp = liveHeap();
            long fdsAfterWarmUp = openFileDescriptors();
            long countAfterWarmUp = done.get();
            for (Thread client : clients) {
                client.join();
            }
            long heapAtEnd = liveHeap();
            long fdsAtEnd = openFileDescriptors();
            double seconds = (DURATION_MILLIS - WARM_UP_MILLIS) / 1000.0;
            System.out.printf("soak: %d connections in %.0f s, %.0f/s after warm-up (%d clients); 0 expected"
                    + " failures, got %d; live heap %d -> %d bytes; open fds %d -> %d%n", done.get(),
                    DURATION_MILLIS / 1000.0, (done.get() - countAfterWarmUp) / seconds, CLIENTS, failed.get(),
                    heapAfterWarmUp, heapAtEnd, fdsAfterWarmUp, fdsAtEnd);
            assertEquals(0, failed.get(), "failed connections: " + failures);
            assertTrue(done.get() > 1_000, "only " + done.get() + " connections");
            assertTrue(heapAtEnd <= heapAfterWarmUp * 1.10 + (2 << 20),
                    "live heap grew from " + heapAfterWarmUp + " to " + heapAtEnd);
            assertTrue(fdsAtEnd <= fdsAfterWarmUp + 16, "open fds grew from " + fdsAfterWarmUp + " to " + fdsAtEnd);
        }
    }

    private static long liveHeap() throws InterruptedException {
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
            used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
        }
        return used;
    }

    private static long openFileDescriptors() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }
}
