package io.diglett.server;

import static io.diglett.server.TunnelTests.waitFor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.diglett.common.transport.BufferSettings;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.mux.BufferBudget;
import io.diglett.server.TestServers.Backend;
import io.diglett.server.TestServers.Digested;
import io.diglett.server.TestServers.RandomBytes;
import io.diglett.server.config.GatewayConfig;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Clients that ask for a large response and never read, through a real gateway and agent: what the gateway
 * holds stays within its buffer budget (the greedy address's share first), the streams that go over it are shed,
 * the stall timeout frees the rest, and meanwhile another client of the same tunnel is served in full and the
 * agent's link never drops.
 */
class StalledReadersTests {

    private static final int STALLED = 48;
    private static final long TOTAL = 8L << 20;
    private static final long PER_CLIENT = 2L << 20;

    @Test
    void clientsThatNeverReadAreHeldToTheBudgetAndShedWhileAnotherClientIsServed() throws Exception {
        BufferSettings buffers = new BufferSettings(TOTAL, TOTAL, PER_CLIENT, Duration.ofSeconds(3), 64 * 1024);
        AtomicLong endlessWritten = new AtomicLong();
        List<Socket> stalled = new ArrayList<>();
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withBuffers(buffers));
             Backend backend = new Backend(socket -> {
                 OutputStream out = socket.getOutputStream();
                 if (socket.getInputStream().read() == 'E') {
                     byte[] block = new byte[64 * 1024];
                     while (true) {
                         out.write(block);
                         endlessWritten.addAndGet(block.length);
                     }
                 }
                 RandomBytes.write(3, 8L << 20, out);
             })) {
            int port = fixture.expose("big", backend.port());
            BufferBudget budget = fixture.gateway.linkServices().flow().budget();
            try {
                for (int i = 0; i < STALLED; i++) {
                    Socket socket = new Socket();
                    stalled.add(socket);
                    socket.setReceiveBufferSize(4096);
                    socket.bind(new InetSocketAddress("127.0.0.2", 0));
                    socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
                    socket.getOutputStream().write('E');
                }
                // over its address's share, streams whose sockets take nothing go: at their next Payload once they
                // took nothing for a second, or at the sweep once they took nothing for half a second (memory is
                // short for them)
                waitFor(() -> budget.shed(BufferBudget.Shed.BUDGET) + budget.shed(BufferBudget.Shed.PRESSURE) > 0,
                        "the greedy address's share is spent", 20_000);
                long held = budget.total().used();
                // a stream never holds more than its window, whatever the budget
                assertTrue(held <= STALLED * (long) GatewayConfig.defaults().window(), "held " + held + " bytes");
                String metrics = scrape(fixture.gateway);
                assertTrue(counter(metrics, "diglett_streams_shed_total", "budget")
                        + counter(metrics, "diglett_streams_shed_total", "pressure") >= 1, metrics);

                // another client of the same tunnel, from another address, gets its 8 MiB in full meanwhile
                try (Socket reader = TestServers.connect(port)) {
                    reader.getOutputStream().write('F');
                    Digested got = TestServers.digestUntil(reader.getInputStream(), Long.MAX_VALUE);
                    assertEquals(8L << 20, got.length());
                    assertArrayEquals(RandomBytes.digest(3, 8L << 20), got.sha256());
                }

                // what the streams that were not shed still hold is freed: after 1 s while their address's share
                // is over its limit (memory short), after the stall timeout (3 s here) once it is not
                waitFor(() -> budget.total().used() == 0, "stalled streams are reset and their bytes freed", 20_000);
                metrics = scrape(fixture.gateway);
                assertTrue(counter(metrics, "diglett_streams_shed_total", "stall")
                        + counter(metrics, "diglett_streams_shed_total", "pressure") >= 1, metrics);
                assertEquals(0, counter(metrics, "diglett_streams_shed_total", "allocation"), metrics);
                assertEquals(1.0, gauge(metrics, "diglett_agents_connected"), "the agent's link never dropped");
                long written = endlessWritten.get();
                // each stalled stream: a window at the gateway, one read at the agent, the kernel queues between and
                // the backend's own send buffer (autotuned up to 4 MiB): nothing read without credit
                assertTrue(written < STALLED * (6L << 20), "the backends wrote " + written + " bytes");
                System.out.printf("%d stalled clients: %d shed over the budget, %d stalled while memory was short,"
                        + " %d by the stall timeout; held %d bytes at the first shed; backends wrote %d bytes%n",
                        STALLED, budget.shed(BufferBudget.Shed.BUDGET), budget.shed(BufferBudget.Shed.PRESSURE),
                        budget.shed(BufferBudget.Shed.STALL), held, written);
            } finally {
                for (Socket socket : stalled) {
                    socket.close();
                }
            }
            // streams whose bytes all sit in the kernel hold nothing here and stay until their clients go
            waitFor(() -> budget.clients() == 0, "no client entry outlives its streams");
        }
    }

    static String scrape(Gateway gateway) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, gateway.metricsRegistry().scrape());
        return out.toString(StandardCharsets.UTF_8);
    }

    static double counter(String metrics, String name, String reason) {
        Matcher m = Pattern.compile("(?m)^" + name + "\\{reason=\"" + reason + "\"} (\\S+)$").matcher(metrics);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    static double gauge(String metrics, String name) {
        Matcher m = Pattern.compile("(?m)^" + name + " (\\S+)$").matcher(metrics);
        assertTrue(m.find(), name + " in " + metrics);
        return Double.parseDouble(m.group(1));
    }
    /**
     * The agent's backend sockets get a receive buffer of the window the gateway granted their stream (the kernel
     * doubles SO_RCVBUF; `ss` shows the doubled figure as rb), not one autotuned to megabytes while the first
     * window goes out; and once the windows granted leave no room in the gateway's budget, new streams get the
     * protocol's minimum, so their backends get the small buffer too.
     */
    @Test
    void theAgentsBackendSocketsReceiveWhatTheGatewayGrantedTheirStreamAndNoMore() throws Exception {
        assumeTrue(new File("/usr/bin/ss").canExecute() || new File("/bin/ss").canExecute(), "needs ss (iproute2)");
        int window = Protocol.DEFAULT_WINDOW;
        // room for the windows: half the total, two full windows
        BufferSettings buffers = new BufferSettings(4L * window, 4L * window, 4L * window, Duration.ZERO, 64 * 1024);
        CountDownLatch accepted = new CountDownLatch(3);
        List<Socket> clients = new ArrayList<>();
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withBuffers(buffers));
             Backend backend = new Backend(socket -> {
                 accepted.countDown();
                 socket.getInputStream().read(); // holds the connection until the client goes
             })) {
            int port = fixture.expose("held", backend.port());
            try {
                for (int i = 0; i < 3; i++) {
                    Socket client = TestServers.connect(port);
                    clients.add(client);
                    // one at a time: the first two streams are granted full windows, the third the minimum
                    waitFor(() -> accepted.getCount() == 3 - clients.size(), "backend connection " + (i + 1));
                }
                List<Long> buffersSeen = new ArrayList<>();
                Process ss = new ProcessBuilder("ss", "-tmnH", "state", "established", "dst",
                        "127.0.0.1:" + backend.port()).redirectErrorStream(true).start();
                String out = new String(ss.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
                ss.waitFor();
                Matcher rb = Pattern.compile("rb(\\d+)").matcher(out);
                while (rb.find()) {
                    buffersSeen.add(Long.parseLong(rb.group(1)));
                }
                buffersSeen.sort(null);
                assertEquals(List.of(2L * Protocol.MIN_WINDOW, 2L * window, 2L * window),
                        buffersSeen, out);
            } finally {
                for (Socket client : clients) {
                    client.close();
                }
            }
        }
    }
}
