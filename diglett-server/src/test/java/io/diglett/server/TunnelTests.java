package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.diglett.server.TestServers.Backend;
import io.diglett.server.TestServers.Digested;
import io.diglett.server.TestServers.RandomBytes;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The data path end to end: real gateway, agent and backends on 127.0.0.1, port 0. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class TunnelTests {

    private TunnelFixture fixture;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        fixture = new TunnelFixture();
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable closeable : closeables) {
            closeable.close();
        }
        fixture.close();
    }

    private Backend backend(TestServers.Handler handler) throws IOException {
        Backend backend = new Backend(handler);
        closeables.add(backend);
        return backend;
    }

    @Test
    void httpGetThroughTheTunnel() throws Exception {
        HttpServer http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        http.createContext("/", exchange -> {
            byte[] body = ("hello from " + exchange.getRequestURI().getPath()).getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        http.start();
        closeables.add(() -> http.stop(0));
        int port = fixture.expose("example", http.getAddress().getPort());

        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> response = client.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/index-" + i)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, response.statusCode());
            assertEquals("hello from /index-" + i, response.body());
        }
    }

    @Test
    void backendThatSpeaksFirstIsHeardWithoutTheClientSendingAnything() throws Exception {
        Backend banner = backend(socket -> {
            socket.getOutputStream().write("SSH-2.0-TestServer\r\n".getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            socket.getInputStream().readAllBytes();
        });
        int port = fixture.expose("ssh", banner.port());
        try (Socket client = TestServers.connect(port)) {
            client.setSoTimeout(5_000);
            byte[] line = TestServers.readExactly(client.getInputStream(), 20);
            assertEquals("SSH-2.0-TestServer\r\n", new String(line, StandardCharsets.US_ASCII));
        }
    }

    /**
     * 200 streams at once, each sending a random amount up to 4 MB while receiving another random amount up to
     * 4 MB; both directions are checked by SHA-256. The client half-closes after its request, so this also
     * proves that a half-closed client still receives the whole response.
     */
    @Test
    void twoHundredConcurrentStreamsCarryRandomAmountsIntact() throws Exception {
        Backend exchange = backend(TunnelTests::exchange);
        int port = fixture.expose("bulk", exchange.port());
        int streams = 200;
        ExecutorService pool = Executors.newCachedThreadPool();
        try {
            List<Future<?>> results = new ArrayList<>();
            SplittableRandom random = new SplittableRandom(20261124);
            for (int i = 0; i < streams; i++) {
                long requestLength = random.nextLong(4_000_001);
                long responseLength = random.nextLong(4_000_001);
                long requestSeed = random.nextLong();
                long responseSeed = random.nextLong();
                results.add(pool.submit(() -> {
                    exchangeClient(pool, port, requestSeed, requestLength, responseSeed, responseLength);
                    return null;
                }));
            }
            for (Future<?> result : results) {
                result.get(150, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Backend side of {@link #twoHundredConcurrentStreamsCarryRandomAmountsIntact}. */
    private static void exchange(Socket socket) throws Exception {
        DataInputStream in = new DataInputStream(socket.getInputStream());
        long responseSeed = in.readLong();
        long responseLength = in.readLong();
        OutputStream out = socket.getOutputStream();
        CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
            try {
                RandomBytes.write(responseSeed, responseLength, out);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Digested request = TestServers.digestUntil(in, Long.MAX_VALUE);
        sent.get();
        out.write(request.sha256());
        out.flush();
    }

    private static void exchangeClient(ExecutorService pool, int port, long requestSeed, long requestLength,
                                       long responseSeed, long responseLength) throws Exception {
        try (Socket socket = TestServers.connect(port)) {
            Future<byte[]> sent = pool.submit(() -> {
                DataOutputStream out = new DataOutputStream(socket.getOutputStream());
                out.writeLong(responseSeed);
                out.writeLong(responseLength);
                byte[] digest = RandomBytes.write(requestSeed, requestLength, out);
                socket.shutdownOutput();
                return digest;
            });
            InputStream in = socket.getInputStream();
            Digested response = TestServers.digestUntil(in, responseLength);
            assertEquals(responseLength, response.length(), "response length");
            assertArrayEquals(RandomBytes.digest(responseSeed, responseLength), response.sha256(), "response bytes");
            byte[] echoedDigest = TestServers.readExactly(in, 32);
            assertArrayEquals(sent.get(), echoedDigest, "request bytes as the backend saw them");
            assertEquals(-1, in.read(), "nothing after the digest");
        }
    }

    @Test
    void clientHalfCloseStillGetsTheWholeResponse() throws Exception {
        Backend reverser = backend(socket -> {
            byte[] request = socket.getInputStream().readAllBytes();
            byte[] response = new StringBuilder(new String(request, StandardCharsets.UTF_8)).reverse().toString()
                    .getBytes(StandardCharsets.UTF_8);
            socket.getOutputStream().write(response);
            socket.getOutputStream().flush();
        });
        int port = fixture.expose("reverse", reverser.port());
        try (Socket client = TestServers.connect(port)) {
            client.getOutputStream().write("stressed".getBytes(StandardCharsets.UTF_8));
            client.shutdownOutput();
            assertEquals("desserts", new String(client.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void backendHalfCloseStillGetsWhatTheClientSendsAfterwards() throws Exception {
        CompletableFuture<String> received = new CompletableFuture<>();
        Backend greeter = backend(socket -> {
            socket.getOutputStream().write("hello".getBytes(StandardCharsets.UTF_8));
            socket.shutdownOutput();
            received.complete(new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
        });
        int port = fixture.expose("greeter", greeter.port());
        try (Socket client = TestServers.connect(port)) {
            assertEquals("hello", new String(client.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
                    "greeting, then end of stream");
            client.getOutputStream().write("still here".getBytes(StandardCharsets.UTF_8));
            client.shutdownOutput();
            assertEquals("still here", received.get(10, TimeUnit.SECONDS));
        }
    }

    /**
     * One client asks for an endless stream and never reads. Another stream through the same tunnel still
     * transfers 128 MiB, and the stalled stream's backend can push only what the window and the socket
     * buffers hold: nothing grows.
     */
    @Test
    void aClientThatStopsReadingStallsOnlyItsOwnStream() throws Exception {
        long fastLength = 128L << 20;
        AtomicLong stalledWritten = new AtomicLong();
        Backend source = backend(socket -> {
            int command = socket.getInputStream().read();
            OutputStream out = socket.getOutputStream();
            if (command == 'S') {
                socket.setSendBufferSize(64 * 1024);
                byte[] chunk = new byte[16 * 1024];
                while (true) {
                    out.write(chunk);
                    stalledWritten.addAndGet(chunk.length);
                }
            }
            RandomBytes.write(7, fastLength, out);
        });
        int port = fixture.expose("source", source.port());
        // the same transfer alone first: the yardstick for "full speed" (warm JIT, same machine, same moment)
        long alone = timedFastTransfer(port, fastLength);

        try (Socket stalled = new Socket()) {
            stalled.setReceiveBufferSize(64 * 1024);
            stalled.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5_000);
            stalled.getOutputStream().write('S');
            waitFor(() -> stalledWritten.get() > 0, "the stalled stream's backend started writing");

            long beside = timedFastTransfer(port, fastLength);
            // Full speed beside a stalled stream: a stalled stream that held the link (head-of-line blocking)
            // would stop the transfer outright, one that ate its bandwidth would slow it many times over. The
            // bound leaves room for a busy two-core machine's noise, not for either failure.
            assertTrue(beside <= 2 * alone + 1_000, "128 MiB took " + beside + " ms beside a stalled stream, "
                    + alone + " ms alone");
            long buffered = stalledWritten.get();
            // Window (256 KiB) + one unsent read (64 KiB) + kernel socket buffers on four sockets. Without
            // flow control the agent would read the endless stream as fast as the backend writes it.
            assertTrue(buffered < 24L << 20, "stalled stream buffered " + buffered + " bytes");
            long direct = ((ByteBufAllocatorMetricProvider) ByteBufAllocator.DEFAULT).metric().usedDirectMemory();
            assertTrue(direct < 64L << 20, "direct memory in use " + direct);
            System.out.printf("stalled stream: backend wrote %d bytes; direct memory in use %d; 128 MiB alone %d ms,"
                    + " beside it %d ms%n", buffered, direct, alone, beside);
        }
    }

    /** Fetches the fast stream ('F': {@code length} random bytes), checks it, returns how long it took in ms. */
    private static long timedFastTransfer(int port, long length) throws IOException {
        long start = System.nanoTime();
        try (Socket fast = TestServers.connect(port)) {
            fast.getOutputStream().write('F');
            Digested got = TestServers.digestUntil(fast.getInputStream(), Long.MAX_VALUE);
            assertEquals(length, got.length());
            assertArrayEquals(RandomBytes.digest(7, length), got.sha256());
        }
        return (System.nanoTime() - start) / 1_000_000;
    }

    @Test
    void refusedBackendClosesThePublicClientWithinOneSecond() throws Exception {
        int port = fixture.expose("refused", TestServers.refusedPort());
        try (Socket client = TestServers.connect(port)) {
            client.setSoTimeout(5_000);
            long start = System.nanoTime();
            int first;
            try {
                first = client.getInputStream().read();
            } catch (IOException reset) {
                first = -1;
            }
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertEquals(-1, first, "the connection ends without data");
            assertTrue(millis < 1_000, "closed after " + millis + " ms");
        }
    }

    @Test
    void backendDyingMidStreamResetsOnlyThatStream() throws Exception {
        Backend echo = backend(socket -> {
            InputStream in = socket.getInputStream();
            OutputStream out = socket.getOutputStream();
            int b;
            while ((b = in.read()) >= 0) {
                if (b == 'X') {
                    socket.setSoLinger(true, 0);
                    socket.close();
                    return;
                }
                out.write(b);
                out.flush();
            }
        });
        int port = fixture.expose("echo", echo.port());
        try (Socket doomed = TestServers.connect(port); Socket survivor = TestServers.connect(port)) {
            survivor.getOutputStream().write('a');
            assertEquals('a', survivor.getInputStream().read());
            doomed.getOutputStream().write('X');
            doomed.setSoTimeout(5_000);
            int end;
            try {
                end = doomed.getInputStream().read();
            } catch (IOException reset) {
                end = -1;
            }
            assertEquals(-1, end);
            survivor.getOutputStream().write('b');
            assertEquals('b', survivor.getInputStream().read());
        }
    }

    static void waitFor(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        waitFor(condition, what, 10_000);
    }

    /** Polls {@code condition} every 10 ms until it holds; fails after {@code timeoutMillis}. */
    static void waitFor(java.util.function.BooleanSupplier condition, String what, long timeoutMillis)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(10);
        }
    }
}
