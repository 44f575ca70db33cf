package io.diglett.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP relay on loopback between one party and a server, that a test can cut: from then on every connection
 * through it is closed and new ones are refused, as when a network path to the server fails. Used to cut one
 * gateway node from etcd while the others still reach it.
 */
final class TcpCut implements AutoCloseable {

    private final ServerSocket listener;
    private final InetSocketAddress server;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    /** Connections through the relay are closed as they come. */
    private volatile boolean cut;
    private volatile boolean closed;
    /** The server's bytes wait in the relay (the kernel's buffers) until released: answers come late. */
    private volatile boolean holding;

    TcpCut(InetSocketAddress server) throws IOException {
        this.server = server;
        this.listener = new ServerSocket();
        listener.bind(new InetSocketAddress("127.0.0.1", 0));
        Thread accepting = new Thread(this::accept, "tcp-cut-accept");
        accepting.setDaemon(true);
        accepting.start();
    }

    /** The URL of the relay, for a client of {@code url}'s server. */
    URI url(URI url) {
        return URI.create(url.getScheme() + "://127.0.0.1:" + listener.getLocalPort());
    }

    private void accept() {
        while (!closed) {
            try {
                Socket client = listener.accept();
                if (cut) {
                    client.close();
                    continue;
                }
                Socket upstream = new Socket();
                upstream.connect(server, 5_000);
                sockets.add(client);
                sockets.add(upstream);
                pump(client, upstream, false);
                pump(upstream, client, true);
            } catch (IOException e) {
                if (closed) {
                    return;
                }
            }
        }
    }

    private void pump(Socket from, Socket to, boolean answers) {
        Thread thread = new Thread(() -> {
            byte[] buffer = new byte[16 * 1024];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                while (true) {
                    int n = in.read(buffer);
                    if (n <= 0) {
                        break;
                    }
                    while (answers && holding && !cut) {
                        Thread.sleep(10);
                    }
                    out.write(buffer, 0, n);
                }
            } catch (IOException | InterruptedException ended) {
                // cut, or one side closed
            } finally {
                close(from);
                close(to);
            }
        }, "tcp-cut-pump");
        thread.setDaemon(true);
        thread.start();
    }

    /** Cuts the path: every connection through the relay is closed, and new ones are closed as they come. */
    void cut() {
        cut = true;
        for (Socket socket : sockets) {
            close(socket);
        }
        sockets.clear();
    }

    /** From now on the server's answers wait (its requests still reach it), until {@link #releaseAnswers}. */
    void holdAnswers() {
        holding = true;
    }

    void releaseAnswers() {
        holding = false;
    }

    /** The path works again, for new connections. */
    void restore() {
        cut = false;
    }

    private static void close(java.io.Closeable closeable) {
        try {
            closeable.close();
        } catch (IOException ignored) {
            // closing
        }
    }

    @Override
    public void close() {
        closed = true;
        cut();
        close(listener);
    }
}
