package io.diglett.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** Blocking test backends on 127.0.0.1, port 0: one thread per connection, closed with the server. */
final class TestServers {

    private TestServers() {
    }

    /** What a backend does with one accepted connection. */
    interface Handler {
        void handle(Socket socket) throws Exception;
    }

    /** A running backend. */
    static final class Backend implements AutoCloseable {
        private final ServerSocket server;
        private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();

        Backend(Handler handler) throws IOException {
            this(new ServerSocket(0, 512, InetAddress.getLoopbackAddress()), handler);
        }

        /** A backend on a server socket of the test's own (a TLS one, say). */
        Backend(ServerSocket listening, Handler handler) {
            server = listening;
            Thread acceptor = new Thread(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket socket = server.accept();
                        sockets.add(socket);
                        Thread worker = new Thread(() -> {
                            try (socket) {
                                handler.handle(socket);
                            } catch (Exception ignored) {
                                // the client went away; the test asserts on what it saw
                            } finally {
                                sockets.remove(socket);
                            }
                        }, "backend-conn");
                        worker.setDaemon(true);
                        worker.start();
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "backend-accept");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        int port() {
            return server.getLocalPort();
        }

        /** Closes the connections accepted so far; the server keeps accepting. */
        void closeConnections() throws IOException {
            for (Socket socket : sockets) {
                socket.close();
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            closeConnections();
        }
    }

    /** A port on which nothing listens: bound by the OS, then closed again, so connects are refused. */
    static int refusedPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    /** Connects to {@code address} (a node of a cluster test on 127.0.0.x, say). */
    static Socket connect(InetSocketAddress address) throws IOException {
        Socket socket = new Socket();
        socket.connect(address, 5_000);
        socket.setSoTimeout(60_000);
        return socket;
    }

    /**
     * Waits (up to a second) until nothing listens on {@code port} of the loopback address any more. A released
     * name's listener closes on its event loop just after the registry frees the name; with io_uring, once its
     * pending accept is cancelled.
     */
    static void awaitClosed(int port, String what) throws InterruptedException {
        TunnelTests.waitFor(() -> {
            try {
                connect(port).close();
                return false;
            } catch (IOException refused) {
                return true;
            }
        }, what, 1_000);
    }

    static Socket connect(int port) throws IOException {
        Socket socket = new Socket();
        socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5_000);
        socket.setSoTimeout(60_000);
        return socket;
    }

    /** Reads until end of stream. */
    static byte[] readAll(InputStream in) throws IOException {
        return in.readAllBytes();
    }

    static byte[] readExactly(InputStream in, int n) throws IOException {
        byte[] bytes = in.readNBytes(n);
        if (bytes.length != n) {
            throw new IOException("stream ended after " + bytes.length + " of " + n + " bytes");
        }
        return bytes;
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Deterministic pseudo-random bytes: the same seed and length give the same bytes, produced in blocks so
     * that gigabytes cost no memory.
     */
    static final class RandomBytes {
        static final int BLOCK = 16 * 1024;

        private RandomBytes() {
        }

        /** Writes {@code length} bytes of the stream {@code seed} and returns their SHA-256. */
        static byte[] write(long seed, long length, OutputStream out) throws IOException {
            SplittableRandom random = new SplittableRandom(seed);
            MessageDigest digest = sha256();
            byte[] block = new byte[BLOCK];
            long left = length;
            while (left > 0) {
                fill(random, block);
                int n = (int) Math.min(BLOCK, left);
                digest.update(block, 0, n);
                out.write(block, 0, n);
                left -= n;
            }
            out.flush();
            return digest.digest();
        }

        /** The SHA-256 of {@code length} bytes of the stream {@code seed}, without sending them. */
        static byte[] digest(long seed, long length) {
            try {
                return write(seed, length, OutputStream.nullOutputStream());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private static void fill(SplittableRandom random, byte[] block) {
            for (int i = 0; i < block.length; i += 8) {
                long v = random.nextLong();
                for (int j = 0; j < 8; j++) {
                    block[i + j] = (byte) (v >>> (8 * j));
                }
            }
        }
    }

    /** Reads {@code in} to its end (or {@code limit} bytes) and returns the SHA-256 and the count. */
    static Digested digestUntil(InputStream in, long limit) throws IOException {
        MessageDigest digest = sha256();
        byte[] buf = new byte[64 * 1024];
        long total = 0;
        while (total < limit) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, limit - total));
            if (n < 0) {
                break;
            }
            digest.update(buf, 0, n);
            total += n;
        }
        return new Digested(digest.digest(), total);
    }

    record Digested(byte[] sha256, long length) {
    }

    /**
     * A TCP relay to {@code target}: every connection is piped both ways, and what clients send is recorded
     * (for tests that look at the bytes on the wire).
     */
    static final class Relay implements AutoCloseable {
        final java.io.ByteArrayOutputStream clientBytes = new java.io.ByteArrayOutputStream();
        private final Backend backend;
        /** Connections opened before this many freezes stop forwarding. */
        private final java.util.concurrent.atomic.AtomicInteger generation = new java.util.concurrent.atomic.AtomicInteger();
        private final java.util.concurrent.atomic.AtomicInteger open = new java.util.concurrent.atomic.AtomicInteger();
        /** While set, new connections are accepted but wait before they are relayed. */
        private boolean holding;
        /** When bytes were last passed on toward the target, and back toward the client (System.nanoTime). */
        private volatile long lastToTarget;
        private volatile long lastToClient;
        /** A freeze waiting for the target's next exchange, and since when it waits. */
        private java.util.concurrent.CompletableFuture<Frozen> pendingFreeze;
        private long armedAt;
        private final java.util.concurrent.CountDownLatch closed = new java.util.concurrent.CountDownLatch(1);

        Relay(int target) throws IOException {
            backend = new Backend(client -> {
                awaitRelease();
                int born = generation.get();
                open.incrementAndGet();
                try (Socket upstream = connect(target)) {
                    upstream.setSoTimeout(0);
                    client.setSoTimeout(0);
                    Thread down = new Thread(() -> pump(upstream, client, born, false));
                    down.setDaemon(true);
                    down.start();
                    pump(client, upstream, born, true);
                    if (generation.get() != born) {
                        // a blackhole passes nothing on, not even the client's close: the target keeps its
                        // half-open connection until the relay itself is closed
                        closed.await(60, TimeUnit.SECONDS);
                    }
                } finally {
                    open.decrementAndGet();
                }
            });
        }

        private void pump(Socket from, Socket to, int born, boolean record) {
            byte[] buf = new byte[8192];
            try {
                int n;
                while ((n = from.getInputStream().read(buf)) >= 0) {
                    if (generation.get() != born) {
                        // frozen: swallow everything, close nothing (a blackhole)
                        continue;
                    }
                    if (record) {
                        synchronized (clientBytes) {
                            clientBytes.write(buf, 0, n);
                        }
                    }
                    to.getOutputStream().write(buf, 0, n);
                    forwarded(record);
                }
            } catch (IOException ignored) {
                // either side closed
            }
        }

        /** New connections are accepted but not relayed (their clients wait) until {@link #release}. */
        synchronized void hold() {
            holding = true;
        }

        /** Relays the connections that were held, and new ones at once again. */
        synchronized void release() {
            holding = false;
            notifyAll();
        }

        private synchronized void awaitRelease() throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            for (long left; holding && (left = deadline - System.nanoTime()) > 0; ) {
                wait(TimeUnit.NANOSECONDS.toMillis(left) + 1);
            }
        }

        /** Closes the connections open now, on both sides, as a reset link would; new ones work. */
        void cut() throws IOException {
            backend.closeConnections();
        }

        private void forwarded(boolean toTarget) {
            long now = System.nanoTime();
            java.util.concurrent.CompletableFuture<Frozen> freeze = null;
            synchronized (this) {
                if (toTarget) {
                    lastToTarget = now;
                    if (pendingFreeze != null && lastToClient > armedAt
                            && now - lastToClient < TimeUnit.MILLISECONDS.toNanos(50)) {
                        freeze = pendingFreeze;
                        pendingFreeze = null;
                    }
                } else {
                    lastToClient = now;
                }
            }
            if (freeze != null) {
                freeze.complete(freeze());
            }
        }

        /** The connections open now stop forwarding in both directions, without closing; new ones work. */
        Frozen freeze() {
            generation.incrementAndGet();
            return new Frozen(System.nanoTime(), lastToTarget, lastToClient);
        }

        /**
         * Freezes the connections open now right after the next exchange the target starts: bytes toward the
         * client answered within 50 ms by bytes toward the target. On an idle agent link that is the gateway's
         * Ping and the agent's Pong, so the freeze comes just after the gateway heard from the agent.
         */
        synchronized java.util.concurrent.CompletableFuture<Frozen> freezeAfterTargetsNextExchange() {
            pendingFreeze = new java.util.concurrent.CompletableFuture<>();
            armedAt = System.nanoTime();
            return pendingFreeze;
        }

        /**
         * When the relay froze, and when it last passed bytes on toward the target and toward the client (what
         * each end heard last), all System.nanoTime.
         */
        record Frozen(long at, long lastToTarget, long lastToClient) {
        }

        int openConnections() {
            return open.get();
        }

        int port() {
            return backend.port();
        }

        byte[] recorded() {
            synchronized (clientBytes) {
                return clientBytes.toByteArray();
            }
        }

        @Override
        public void close() throws IOException {
            closed.countDown();
            backend.close();
        }
    }
}
