package io.diglett.server;

import io.diglett.server.config.GatewayConfig;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.server.TestServers.Backend;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A TLS gateway (the default) under a stream of hostile connections on its agent port: random garbage, TLS
 * records full of junk, plain HTTP, half-open connections that never finish, and well-formed TLS sessions that
 * then speak garbage. Meanwhile a real tunnel serves request after request, and none of them may fail.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HostileInputTests {

    private static final int ROUNDS = 40;

    @Test
    void aLiveTunnelKeepsServingWhileTheAgentPortIsAttacked() throws Exception {
        GatewayConfig.Limits limits = GatewayConfig.Limits.defaults().withHandshakeTimeout(Duration.ofSeconds(1));
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withLimits(limits))) {
            int publicPort = fixture.expose("steady", echo.port());
            int agentPort = fixture.address.getPort();

            AtomicBoolean attacking = new AtomicBoolean(true);
            AtomicInteger served = new AtomicInteger();
            CompletableFuture<Void> traffic = CompletableFuture.runAsync(() -> {
                try {
                    while (attacking.get() || served.get() < 50) {
                        roundTrip(publicPort, served.incrementAndGet());
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException("tunnel request " + served.get() + " failed", e);
                }
            });

            ExecutorService attackers = Executors.newFixedThreadPool(8);
            List<CompletableFuture<Boolean>> closedByGateway = new ArrayList<>();
            SplittableRandom random = new SplittableRandom(424242);
            for (int round = 0; round < ROUNDS; round++) {
                long seed = random.nextLong();
                int kind = round % 5;
                closedByGateway.add(CompletableFuture.supplyAsync(() -> attack(agentPort, kind, seed), attackers));
            }
            for (CompletableFuture<Boolean> closed : closedByGateway) {
                assertTrue(closed.get(30, TimeUnit.SECONDS), "the gateway closed every hostile connection");
            }
            attacking.set(false);
            traffic.get(30, TimeUnit.SECONDS);
            attackers.shutdownNow();
            assertTrue(served.get() >= 50, "requests served during the attack: " + served.get());
            // A hostile client may see its connection end a moment before the gateway's close listener has run.
            TunnelTests.waitFor(() -> fixture.gateway.agents() == 1, "only the real agent is left connected");
        }
    }

    private static void roundTrip(int port, int n) throws IOException {
        try (Socket client = TestServers.connect(port)) {
            client.setSoTimeout(10_000);
            byte[] message = ("request " + n).getBytes(StandardCharsets.UTF_8);
            client.getOutputStream().write(message);
            client.shutdownOutput();
            byte[] answer = client.getInputStream().readAllBytes();
            if (!new String(answer, StandardCharsets.UTF_8).equals("request " + n)) {
                throw new IOException("wrong answer: " + new String(answer, StandardCharsets.UTF_8));
            }
        }
    }

    /** One hostile connection; true when the gateway closed it (end of stream or reset) in time. */
    private static boolean attack(int port, int kind, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        try (Socket socket = TestServers.connect(port)) {
            socket.setSoTimeout(10_000);
            switch (kind) {
                case 0 -> { // random garbage
                    byte[] junk = new byte[1 + random.nextInt(4096)];
                    random.nextBytes(junk);
                    socket.getOutputStream().write(junk);
                }
                case 1 -> { // a TLS handshake record header followed by junk
                    byte[] junk = new byte[5 + random.nextInt(2048)];
                    random.nextBytes(junk);
                    junk[0] = 0x16;
                    junk[1] = 0x03;
                    junk[2] = 0x01;
                    socket.getOutputStream().write(junk);
                }
                case 2 -> socket.getOutputStream().write(
                        "GET / HTTP/1.1\r\nHost: gateway\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                case 3 -> socket.getOutputStream().write(new byte[] {0x16, 0x03}); // half-open: starts, never ends
                default -> {
                    return tlsThenGarbage(socket, random);
                }
            }
            return closedByPeer(socket.getInputStream());
        } catch (IOException e) {
            return true; // reset by the gateway
        }
    }

    /** A complete TLS handshake (trusting anything), then garbage instead of the diglett handshake. */
    private static boolean tlsThenGarbage(Socket plain, SplittableRandom random) throws IOException {
        try {
            SSLContext context = SSLContext.getInstance("TLSv1.3");
            context.init(null, new TrustManager[] {HttpTestClient.TRUST_ALL}, new SecureRandom());
            SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(plain, "127.0.0.1", plain.getPort(), true);
            tls.startHandshake();
            byte[] junk = new byte[1 + random.nextInt(512)];
            random.nextBytes(junk);
            junk[0] = 'X';
            tls.getOutputStream().write(junk);
            tls.getOutputStream().flush();
            return closedByPeer(tls.getInputStream());
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException(e);
        }
    }

    private static boolean closedByPeer(InputStream in) {
        try {
            byte[] buf = new byte[1024];
            while (in.read(buf) >= 0) {
                // the gateway may say why before it closes
            }
            return true;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }
}
