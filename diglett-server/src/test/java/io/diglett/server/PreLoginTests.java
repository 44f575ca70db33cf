package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.protocol.testing.Fuzzing.LogCapture;
import io.diglett.server.TestServers.Backend;
import io.diglett.server.auth.Authenticator;
import io.diglett.server.auth.FileAuthenticator;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.PreLoginLimits;
import io.diglett.server.config.TlsSettings;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Anonymous connections on the agent port (idle sockets, slow talkers) have their own budget and deadlines and
 * never keep an agent with a valid token out: only logged-in links count against --max-agents.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PreLoginTests {

    /** Where the idle sockets come from: another loopback address than the agents' 127.0.0.1. */
    private static final InetAddress CROWD = address("127.0.0.2");
    private static final String TOKEN = "valid-token";
    private static final String CLOSED_BEFORE_TLS = "the gateway closed the connection before the TLS handshake"
            + " finished (it may be full or refusing this address)";

    @TempDir
    Path temp;
    private Backend echo;
    private Authenticator tokens;

    @BeforeEach
    void start() throws IOException {
        echo = new Backend(socket -> socket.getInputStream().transferTo(socket.getOutputStream()));
        Path file = Files.writeString(temp.resolve("tokens"), TOKEN + " *\n");
        tokens = FileAuthenticator.start(file, Duration.ofMillis(50));
    }

    @AfterEach
    void stop() throws IOException {
        echo.close();
    }

    @Test
    void twoThousandIdleSocketsDoNotKeepAnAgentWithAValidTokenOut() throws Exception {
        LogCapture logs = LogCapture.start();
        // deadlines long enough that the sockets the gateway lets in are still held when the agent comes
        PreLoginLimits slow = PreLoginLimits.defaults().withFirstByteTimeout(Duration.ofSeconds(30))
                .withLoginTimeout(Duration.ofSeconds(30));
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withPreLogin(slow)
                .withLimits(GatewayConfig.Limits.defaults().withHandshakeTimeout(Duration.ofSeconds(30))), tokens);
             IdleSockets crowd = new IdleSockets()) {
            assertTrue(maxFileDescriptors() >= 4_096, "this test holds 2,000 sockets in one JVM: raise the limit of"
                    + " open files (ulimit -n) to at least 4096; it is " + maxFileDescriptors());
            long opening = System.nanoTime();
            crowd.open(2_000, CROWD, fixture.address);
            int allowed = PreLoginLimits.DEFAULT_MAX_PENDING_LOGINS_PER_IP;
            assertTrue(crowd.awaitClosed(2_000 - allowed, 5_000), "all but " + allowed + " of 2,000 sockets from "
                    + CROWD.getHostAddress() + " are closed at once; closed: " + crowd.closed());
            long refusedMillis = millisSince(opening);
            assertEquals(allowed, fixture.gateway.pendingLogins(), "the per-address limit holds the rest");
            assertEquals(2_000 - allowed, fixture.gateway.metrics().handshakeFailures("pending_logins_per_ip"));

            long start = System.nanoTime();
            // one link: a second one is pending for a moment while it joins, and the count below is exact
            Agent agent = fixture.agent(fixture.agentConfig("crowded", echo.port()).withToken(TOKEN).withLinks(1));
            int port = agent.start().get(2, TimeUnit.SECONDS).get(0).publicPort();
            long registeredMillis = millisSince(start);
            assertTrue(registeredMillis < 2_000, "registered in " + registeredMillis + " ms");
            assertEquals(2_000 - allowed, crowd.closed(), "the crowd's sockets the gateway let in are still open");
            assertEquals(allowed, fixture.gateway.pendingLogins());
            assertEquals(1, fixture.gateway.agents());
            try (Socket client = TestServers.connect(port)) {
                client.getOutputStream().write('x');
                assertEquals('x', client.getInputStream().read(), "the tunnel serves");
            }
            int lines = count(logs.text(), "refused before login");
            long seconds = TimeUnit.MILLISECONDS.toSeconds(millisSince(opening));
            assertTrue(lines >= 1 && lines <= seconds + 2, lines + " refusal lines in about " + seconds
                    + " s (refusals took " + refusedMillis + " ms): at most one a second");
        } finally {
            logs.stop();
        }
    }

    @Test
    void maxAgentsCountsOnlyLinksThatLoggedIn() throws Exception {
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults()
                .withLimits(GatewayConfig.Limits.defaults().withMaxAgents(2)), tokens);
             IdleSockets crowd = new IdleSockets()) {
            crowd.open(10, CROWD, fixture.address);
            TunnelTests.waitFor(() -> fixture.gateway.pendingLogins() == 10, "the gateway holds the idle sockets");
            List<Agent> agents = new ArrayList<>();
            for (String name : List.of("one", "two")) {
                Agent agent = fixture.agent(fixture.agentConfig(name, echo.port()).withToken(TOKEN));
                agent.start().get(2, TimeUnit.SECONDS);
                agents.add(agent);
            }
            assertEquals(0, crowd.closed(), "ten idle sockets held, and still both agents are in");
            assertEquals(2, fixture.gateway.agents());

            Agent third = fixture.agent(fixture.agentConfig("three", echo.port()).withToken(TOKEN)
                    .withReconnectCap(Duration.ofMillis(500)));
            java.util.concurrent.CompletableFuture<?> thirdOnline = third.start();
            TunnelTests.waitFor(() -> third.status().lastError() != null, "the third agent is turned away");
            assertEquals("the gateway closed the connection: gateway full: 2 agents logged in, the limit",
                    third.status().lastError());
            assertTrue(fixture.gateway.metrics().handshakeFailures("max_agents") >= 1);
            assertEquals(2, fixture.gateway.agents());

            agents.get(0).close();
            thirdOnline.get(10, TimeUnit.SECONDS); // it retries, and gets the place the first one left
            assertEquals(2, fixture.gateway.agents());
        }
    }

    @Test
    void aSocketThatSendsNothingIsClosedAtTheFirstByteDeadlineAndOneThatNeverLogsInAtTheLoginDeadline()
            throws Exception {
        PreLoginLimits quick = PreLoginLimits.defaults().withFirstByteTimeout(Duration.ofMillis(300))
                .withLoginTimeout(Duration.ofMillis(1_500));
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withPreLogin(quick), tokens);
             IdleSockets silent = new IdleSockets();
             IdleSockets slow = new IdleSockets()) {
            silent.open(3, CROWD, fixture.address);
            slow.open(2, CROWD, fixture.address);
            slow.send(new byte[] {0x16, 0x03, 0x01}); // the start of a TLS record, and then nothing
            assertTrue(silent.awaitClosed(3, 10_000), "the silent sockets are closed");
            assertTrue(slow.awaitClosed(2, 10_000), "the slow sockets are closed");
            assertEquals(3, fixture.gateway.metrics().handshakeFailures("first_byte_timeout"));
            assertEquals(2, fixture.gateway.metrics().handshakeFailures("login_timeout"));
            TunnelTests.waitFor(() -> fixture.gateway.pendingLogins() == 0, "their places are given back");
        }
    }

    @Test
    void aFullPendingPoolTakesNewConnectionsInThePlaceOfTheOldestSilentOnes() throws Exception {
        PreLoginLimits small = PreLoginLimits.defaults().withMaxPendingLogins(4).withMaxPendingLoginsPerIp(3);
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withPreLogin(small), tokens);
             IdleSockets first = new IdleSockets(); IdleSockets second = new IdleSockets()) {
            first.open(5, CROWD, fixture.address);
            assertTrue(first.awaitClosed(2, 5_000), "two over the per-address limit of 3 are closed");
            TunnelTests.waitFor(() -> fixture.gateway.pendingLogins() == 3, "the gateway holds three");
            second.open(3, address("127.0.0.3"), fixture.address);
            assertTrue(first.awaitClosed(4, 5_000), "the pool of 4 is full: two of the first, the oldest, make room");
            TunnelTests.waitFor(() -> fixture.gateway.metrics().handshakeFailures("evicted") == 2,
                    "two evictions counted");
            assertEquals(0, second.closed(), "the newcomers are all in");
            assertEquals(4, fixture.gateway.pendingLogins());
            assertEquals(2, fixture.gateway.metrics().handshakeFailures("pending_logins_per_ip"));
            assertEquals(0, fixture.gateway.metrics().handshakeFailures("pending_logins"));
        }
    }

    @Test
    void idleSocketsFromManyAddressesDoNotKeepAnAgentWithAValidTokenOut() throws Exception {
        crowdFromManyAddresses(null);
    }

    @Test
    void slowTalkersFromManyAddressesDoNotKeepAnAgentWithAValidTokenOut() throws Exception {
        crowdFromManyAddresses(new byte[] {0x16, 0x03, 0x01}); // the start of a TLS record, and then nothing
    }

    /**
     * 64 sockets from 64 addresses, one each, at a gateway that holds 16 pending: every source is within its own
     * share, and the pool is full of them. An agent with a valid token then registers at its first attempt, in
     * the place of one of them.
     */
    private void crowdFromManyAddresses(byte[] each) throws Exception {
        int pool = 16;
        int sources = 64;
        PreLoginLimits small = PreLoginLimits.defaults().withMaxPendingLogins(pool)
                .withFirstByteTimeout(Duration.ofSeconds(30)).withLoginTimeout(Duration.ofSeconds(30));
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withPreLogin(small)
                .withLimits(GatewayConfig.Limits.defaults().withHandshakeTimeout(Duration.ofSeconds(30))), tokens);
             IdleSockets crowd = new IdleSockets()) {
            for (int i = 0; i < sources; i++) {
                crowd.open(1, address("127.0.0." + (10 + i)), fixture.address, each);
            }
            assertTrue(crowd.awaitClosed(sources - pool, 10_000), "all but " + pool + " are closed; closed: "
                    + crowd.closed());
            TunnelTests.waitFor(() -> fixture.gateway.pendingLogins() == pool, "the pool is full");

            long start = System.nanoTime();
            // one link, so that the counts below are those of one connection (a second link takes a place too)
            Agent agent = fixture.agent(fixture.agentConfig("crowded", echo.port()).withToken(TOKEN).withLinks(1));
            int port = agent.start().get(5, TimeUnit.SECONDS).get(0).publicPort();
            long registeredMillis = millisSince(start);
            assertEquals(null, agent.status().lastError(), "registered at the first attempt, no retry");
            assertTrue(registeredMillis < 2_000, "registered in " + registeredMillis + " ms");
            assertEquals(1, fixture.gateway.agents());
            TunnelTests.waitFor(() -> fixture.gateway.metrics().handshakeFailures("evicted") == sources - pool + 1,
                    "each socket over the pool, and then the agent, took an older one's place");
            assertTrue(crowd.awaitClosed(sources - pool + 1, 5_000), "and that one was closed");
            assertEquals(pool - 1, fixture.gateway.pendingLogins(), "its place left the pool at its Login");
            assertEquals(0, fixture.gateway.metrics().handshakeFailures("pending_logins"));
            try (Socket client = TestServers.connect(port)) {
                client.getOutputStream().write('x');
                assertEquals('x', client.getInputStream().read(), "the tunnel serves");
            }
        }
    }

    @Test
    void anAgentTurnedAwayBeforeTlsSaysTheGatewayClosedTheConnectionAndMayBeFull() throws Exception {
        PreLoginLimits one = PreLoginLimits.defaults().withMaxPendingLoginsPerIp(1);
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withPreLogin(one), tokens);
             IdleSockets held = new IdleSockets()) {
            held.open(1, address("127.0.0.1"), fixture.address);
            TunnelTests.waitFor(() -> fixture.gateway.pendingLogins() == 1, "the gateway holds the idle socket");
            Agent agent = fixture.agent(fixture.agentConfig("turned-away", echo.port()).withToken(TOKEN));
            agent.start();
            TunnelTests.waitFor(() -> agent.status().lastError() != null, "the agent's attempt ends");
            assertEquals(CLOSED_BEFORE_TLS, agent.status().lastError());
        }
    }

    @Test
    void aPlaintextAgentTurnedAwaySaysTheGatewayClosedTheConnectionBeforeAnsweringItsHandshake()
            throws Exception {
        PreLoginLimits one = PreLoginLimits.defaults().withMaxPendingLoginsPerIp(1);
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withTls(TlsSettings.plain())
                .withPreLogin(one), tokens);
             IdleSockets held = new IdleSockets()) {
            held.open(1, address("127.0.0.1"), fixture.address);
            TunnelTests.waitFor(() -> fixture.gateway.pendingLogins() == 1, "the gateway holds the idle socket");
            AgentConfig config = fixture.agentConfig("turned-away", echo.port()).withToken(TOKEN);
            Agent agent = fixture.agent(config);
            agent.start();
            TunnelTests.waitFor(() -> agent.status().lastError() != null, "the agent's attempt ends");
            assertEquals("the gateway closed the connection before answering the protocol handshake (it may be"
                    + " full or refusing this address)", agent.status().lastError());
        }
    }

    /** The JVM's limit of open files (it raises its soft limit to the hard one at start), or MAX_VALUE if unknown. */
    private static long maxFileDescriptors() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean()
                instanceof com.sun.management.UnixOperatingSystemMXBean unix
                ? unix.getMaxFileDescriptorCount() : Long.MAX_VALUE;
    }

    private static long millisSince(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - nanos);
    }

    private static int count(String text, String what) {
        Matcher m = Pattern.compile(Pattern.quote(what)).matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    private static InetAddress address(String ip) {
        try {
            return InetAddress.getByName(ip);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * TCP connections that send nothing (unless told to) and notice when the gateway closes them; one selector
     * watches them all, so thousands cost no thread each.
     */
    static final class IdleSockets implements AutoCloseable {
        private final Selector selector;
        private final List<SocketChannel> open = new ArrayList<>();
        private int closed;

        IdleSockets() throws IOException {
            selector = Selector.open();
        }

        /** Opens {@code n} connections from {@code from} to {@code to}. */
        void open(int n, InetAddress from, InetSocketAddress to) throws IOException {
            open(n, from, to, null);
        }

        /** Opens {@code n} connections from {@code from} to {@code to}, each sending {@code first} if not null. */
        void open(int n, InetAddress from, InetSocketAddress to, byte[] first) throws IOException {
            for (int i = 0; i < n; i++) {
                SocketChannel channel = SocketChannel.open();
                channel.bind(new InetSocketAddress(from, 0));
                channel.connect(to);
                if (first != null) {
                    channel.write(ByteBuffer.wrap(first));
                }
                channel.configureBlocking(false);
                channel.register(selector, SelectionKey.OP_READ);
                open.add(channel);
            }
        }

        /** Writes {@code bytes} on every connection. */
        void send(byte[] bytes) throws IOException {
            for (SocketChannel channel : open) {
                channel.write(ByteBuffer.wrap(bytes));
            }
        }

        /** Connections the peer has closed (or reset) so far. */
        int closed() throws IOException {
            poll(0);
            return closed;
        }

        /** Waits until {@code count} connections were closed by the peer; false after {@code timeoutMillis}. */
        boolean awaitClosed(int count, long timeoutMillis) throws IOException {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
            while (closed < count) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    return false;
                }
                poll(left);
            }
            return true;
        }

        private void poll(long timeoutMillis) throws IOException {
            int ready = timeoutMillis == 0 ? selector.selectNow() : selector.select(timeoutMillis);
            if (ready == 0) {
                return;
            }
            ByteBuffer sink = ByteBuffer.allocate(4096);
            for (SelectionKey key : selector.selectedKeys()) {
                SocketChannel channel = (SocketChannel) key.channel();
                boolean ended;
                try {
                    sink.clear();
                    ended = channel.read(sink) < 0;
                } catch (IOException e) {
                    ended = true; // reset
                }
                if (ended) {
                    closed++;
                    key.cancel();
                    channel.close();
                }
            }
            selector.selectedKeys().clear();
        }

        @Override
        public void close() throws IOException {
            for (SocketChannel channel : open) {
                channel.close();
            }
            selector.close();
        }
    }
}
