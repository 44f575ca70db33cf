package io.diglett.server.link;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.logging.RateLimitedLog;
import io.netty.channel.embedded.EmbeddedChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** {@link ClientConnections}: the cap per source, sources by address and /64, one count back per close. */
class ClientConnectionsTest {

    /** A channel that says it comes from {@code from}. */
    private static final class From extends EmbeddedChannel {
        private final SocketAddress from;

        From(String address) throws Exception {
            super(false, false);
            this.from = new InetSocketAddress(InetAddress.getByName(address), 40000);
            register();
        }

        @Override
        protected SocketAddress remoteAddress0() {
            return from;
        }
    }

    private final AtomicInteger refused = new AtomicInteger();
    private RateLimitedLog refusals;
    private final LinkEvents events = new LinkEvents() {
        @Override
        public void handshakeFailed(String stage) {
        }

        @Override
        public void refused(String reason) {
        }

        @Override
        public void streamOpened(double seconds) {
        }

        @Override
        public void connectionRefused(String reason) {
            assertEquals("per_ip_limit", reason);
            refused.incrementAndGet();
        }
    };

    private ClientConnections limited(int cap) {
        refusals = new RateLimitedLog(LoggerFactory.getLogger(ClientConnectionsTest.class), Duration.ofHours(1),
                System::nanoTime);
        return new ClientConnections(() -> cap, events, refusals);
    }

    @Test
    void theConnectionOverTheCapIsRefusedAndAClosedOneGivesItsPlaceBack() throws Exception {
        ClientConnections clients = limited(2);
        From a = new From("192.0.2.7");
        From b = new From("192.0.2.7");
        assertTrue(clients.admit(a, "test"));
        assertTrue(clients.admit(b, "test"));
        From c = new From("192.0.2.7");
        assertFalse(clients.admit(c, "test"));
        c.close();
        assertEquals(2, clients.open(InetAddress.getByName("192.0.2.7")), "a refused connection is not counted");
        assertTrue(clients.admit(new From("192.0.2.8"), "test"), "another address has its own count");
        assertTrue(clients.admit(new From("::ffff:192.0.2.9"), "test"));
        assertEquals(1, clients.open(InetAddress.getByName("192.0.2.9")), "an IPv4-mapped address is the IPv4 one");
        a.close();
        a.close(); // closing twice gives back once
        assertEquals(1, clients.open(InetAddress.getByName("192.0.2.7")));
        assertTrue(clients.admit(new From("192.0.2.7"), "test"));
        assertEquals(1, refused.get());
        assertEquals(0, refusals.suppressed(), "the one refusal was logged");
        assertFalse(clients.admit(new From("192.0.2.7"), "test"));
        assertEquals(1, refusals.suppressed(), "the next one within the hour only counted");
    }

    @Test
    void ipv6AddressesCountByTheir64BitPrefix() throws Exception {
        ClientConnections clients = limited(2);
        assertTrue(clients.admit(new From("2001:db8:1:2::1"), "test"));
        assertTrue(clients.admit(new From("2001:db8:1:2:ffff::9"), "test"));
        assertFalse(clients.admit(new From("2001:db8:1:2:abcd::1"), "test"), "the same /64");
        assertTrue(clients.admit(new From("2001:db8:1:3::1"), "test"), "another /64");
        assertEquals("2001:db8:1:2:0:0:0:0/64",
                ClientConnections.Source.of(InetAddress.getByName("2001:db8:1:2::77")).toString());
        assertEquals("192.0.2.1", ClientConnections.Source.of(InetAddress.getByName("192.0.2.1")).toString());
    }

    @Test
    void anAlreadyClosedChannelIsGivenBackAtOnceAndZeroMeansNoLimit() throws Exception {
        ClientConnections clients = limited(0);
        From gone = new From("192.0.2.1");
        gone.close();
        assertTrue(clients.admit(gone, "test"));
        assertEquals(0, clients.sources(), "counted and given back in the same call");
        for (int i = 0; i < 10_000; i++) {
            assertTrue(clients.admit(new From("192.0.2.1"), "test"));
        }
        assertEquals(10_000, clients.busiest());
    }

    @Test
    void threadsAdmittingAndClosingTogetherNeverExceedTheCapNorLeakACount() throws Exception {
        int cap = 5;
        ClientConnections clients = limited(cap);
        InetAddress source = InetAddress.getByName("198.51.100.1");
        AtomicInteger most = new AtomicInteger();
        int threads = 8;
        CountDownLatch done = new CountDownLatch(threads);
        List<Throwable> errors = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            new Thread(() -> {
                try {
                    for (int i = 0; i < 1_000; i++) {
                        List<From> held = new ArrayList<>();
                        for (int k = 0; k < 3; k++) { // each thread holds up to 3: together over the cap
                            From channel = new From("198.51.100.1");
                            held.add(channel);
                            if (clients.admit(channel, "test")) {
                                most.accumulateAndGet(clients.open(source), Math::max);
                            }
                        }
                        held.forEach(EmbeddedChannel::close);
                    }
                } catch (Throwable e) {
                    synchronized (errors) {
                        errors.add(e);
                    }
                } finally {
                    done.countDown();
                }
            }).start();
        }
        done.await();
        assertEquals(List.of(), errors);
        assertTrue(most.get() >= 1 && most.get() <= cap, "at most " + cap + " at once, saw " + most.get());
        assertTrue(refused.get() > 0, "with 8 threads some were over the cap");
        assertEquals(0, clients.sources(), "every count given back");
    }
}
