package io.diglett.server.link;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.PreLoginLimits;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The pending-login and agent accounting of {@link LinkAdmission} and the deadlines of {@link PreLoginGuard}. */
class LinkAdmissionTest {

    /** Counts what the admission reports, by reason. */
    static final class Reasons implements LinkEvents {
        final List<String> failures = new ArrayList<>();

        @Override
        public void handshakeFailed(String stage) {
            failures.add(stage);
        }

        @Override
        public void refused(String reason) {
        }

        @Override
        public void streamOpened(double seconds) {
        }

        long count(String reason) {
            return failures.stream().filter(reason::equals).count();
        }
    }

    /** An EmbeddedChannel that says it comes from {@code remote}. */
    static final class From extends EmbeddedChannel {
        private final InetSocketAddress remote;

        From(String ip) {
            super(false, false);
            try {
                remote = new InetSocketAddress(InetAddress.getByName(ip), 40000);
            } catch (UnknownHostException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        protected SocketAddress remoteAddress0() {
            return remote;
        }
    }

    private final Reasons events = new Reasons();
    private final AtomicReference<GatewayConfig> config = new AtomicReference<>(GatewayConfig.defaults()
            .withPreLogin(PreLoginLimits.defaults().withMaxPendingLogins(5).withMaxPendingLoginsPerIp(2))
            .withLimits(GatewayConfig.Limits.defaults().withMaxAgents(1)));
    private final LinkAdmission admission = new LinkAdmission(config::get, events, System::nanoTime);

    private static InetAddress ip(String text) throws UnknownHostException {
        return InetAddress.getByName(text);
    }

    @Test
    void eachSourceHasItsShareAndAllOfThemTheGlobalLimit() throws Exception {
        assertNull(admission.enterPending(ip("10.0.0.1")));
        assertNull(admission.enterPending(ip("10.0.0.1")));
        String perIp = admission.enterPending(ip("10.0.0.1"));
        assertEquals("2 connections from this address have not logged in yet, the limit"
                + " (--max-pending-logins-per-ip)", perIp);
        assertEquals(2, admission.pending());
        assertEquals(2, admission.pendingFrom(ip("10.0.0.1")));

        assertNull(admission.enterPending(ip("10.0.0.2")));
        assertNull(admission.enterPending(ip("10.0.0.2")));
        assertNull(admission.enterPending(ip("10.0.0.3")));
        String global = admission.enterPending(ip("10.0.0.4"));
        assertEquals("5 connections have not logged in yet, the limit (--max-pending-logins)", global);
        assertEquals(5, admission.pending());
        assertEquals(0, admission.pendingFrom(ip("10.0.0.4")), "a refused source keeps no entry");
        assertEquals(1, events.count(LinkAdmission.PENDING_LOGINS_PER_IP));
        assertEquals(1, events.count(LinkAdmission.PENDING_LOGINS));

        admission.leavePending(ip("10.0.0.1"));
        assertEquals(1, admission.pendingFrom(ip("10.0.0.1")));
        assertNull(admission.enterPending(ip("10.0.0.4")), "a place given back is free again");
        admission.leavePending(ip("10.0.0.1"));
        assertEquals(0, admission.pendingFrom(ip("10.0.0.1")));
        assertNull(admission.enterPending(null), "an unknown source is held to the global limit only");
        assertNotNull(admission.enterPending(null));
    }

    @Test
    void anIpv6SourceIsItsSlash64() throws UnknownHostException {
        assertNull(admission.enterPending(LinkAdmission.sourceOf(ip("2001:db8:1:2::a"))));
        assertNull(admission.enterPending(LinkAdmission.sourceOf(ip("2001:db8:1:2:ffff::b"))));
        assertNotNull(admission.enterPending(LinkAdmission.sourceOf(ip("2001:db8:1:2:1:2:3:4"))),
                "a third address of the same /64 is over the share of 2");
        assertNull(admission.enterPending(LinkAdmission.sourceOf(ip("2001:db8:1:3::a"))), "another /64 is not");
        assertEquals(2, admission.pendingFrom(ip("2001:db8:1:2::77")));
        assertSame(ip("10.1.2.3").getClass(), LinkAdmission.sourceOf(ip("::ffff:10.1.2.3")).getClass(),
                "an IPv4-mapped address counts as its IPv4 address");
    }

    @Test
    void aConnectionCountsAsPendingUntilLoginThenAsAnAgentUntilItCloses() throws Exception {
        From first = new From("10.0.0.1");
        PreLoginGuard guard = admission.admit(first);
        first.pipeline().addLast(PreLoginGuard.NAME, guard);
        first.register();
        assertEquals(1, admission.pending());
        assertEquals(0, admission.agents());

        assertNull(PreLoginGuard.loggedIn(first.pipeline()));
        assertEquals(0, admission.pending());
        assertEquals(1, admission.agents());
        assertNull(first.pipeline().get(PreLoginGuard.class), "the guard leaves once the link logged in");

        From second = new From("10.0.0.2");
        second.pipeline().addLast(PreLoginGuard.NAME, admission.admit(second));
        second.register();
        assertEquals("gateway full: 1 agents logged in, the limit", PreLoginGuard.loggedIn(second.pipeline()));
        assertEquals(1, events.count(LinkAdmission.MAX_AGENTS));
        assertEquals(0, admission.pending());
        assertEquals(1, admission.agents());
        second.close();
        assertEquals(1, admission.agents(), "a link turned away gives back nothing it did not hold");

        first.close();
        first.runPendingTasks();
        assertEquals(0, admission.agents());
    }

    @Test
    void aConnectionThatClosesBeforeLoginGivesItsPlaceBack() throws Exception {
        for (int i = 0; i < 10; i++) {
            From channel = new From("10.0.0.9");
            PreLoginGuard guard = admission.admit(channel);
            assertNotNull(guard, "attempt " + i + ": the places of closed connections are free again");
            channel.pipeline().addLast(PreLoginGuard.NAME, guard);
            channel.register();
            channel.close();
        }
        assertEquals(0, admission.pending());
    }

    @Test
    void noByteInTimeClosesTheConnection() throws Exception {
        config.set(config.get().withPreLogin(config.get().preLogin().withFirstByteTimeout(Duration.ofSeconds(3))
                .withLoginTimeout(Duration.ofSeconds(5))));
        From silent = new From("10.0.0.1");
        silent.register();
        silent.freezeTime();
        silent.pipeline().addLast(PreLoginGuard.NAME, admission.admit(silent));
        silent.advanceTimeBy(2_900, TimeUnit.MILLISECONDS);
        silent.runScheduledPendingTasks();
        assertTrue(silent.isOpen(), "within the first-byte timeout");
        silent.advanceTimeBy(200, TimeUnit.MILLISECONDS);
        silent.runScheduledPendingTasks();
        assertFalse(silent.isOpen(), "closed at the first-byte timeout");
        assertEquals(1, events.count(LinkAdmission.FIRST_BYTE_TIMEOUT));
        assertEquals(0, admission.pending());
    }

    @Test
    void aByteButNoLoginInTimeClosesTheConnectionAtTheLoginDeadline() throws Exception {
        config.set(config.get().withPreLogin(config.get().preLogin().withFirstByteTimeout(Duration.ofSeconds(3))
                .withLoginTimeout(Duration.ofSeconds(5))));
        From slow = new From("10.0.0.1");
        slow.register();
        slow.freezeTime();
        slow.pipeline().addLast(PreLoginGuard.NAME, admission.admit(slow));
        slow.writeInbound(Unpooled.wrappedBuffer(new byte[] {0x16}));
        slow.releaseInbound();
        slow.advanceTimeBy(4_900, TimeUnit.MILLISECONDS);
        slow.runScheduledPendingTasks();
        assertTrue(slow.isOpen(), "a byte came: no first-byte timeout, and within the login timeout");
        slow.advanceTimeBy(200, TimeUnit.MILLISECONDS);
        slow.runScheduledPendingTasks();
        assertFalse(slow.isOpen(), "closed at the login timeout");
        assertEquals(0, events.count(LinkAdmission.FIRST_BYTE_TIMEOUT));
        assertEquals(1, events.count(LinkAdmission.LOGIN_TIMEOUT));
        assertEquals(0, admission.pending());
    }

    @Test
    void aLoginInTimeStopsTheDeadlines() throws Exception {
        From quick = new From("10.0.0.1");
        quick.register();
        quick.freezeTime();
        quick.pipeline().addLast(PreLoginGuard.NAME, admission.admit(quick));
        assertNull(PreLoginGuard.loggedIn(quick.pipeline()));
        quick.advanceTimeBy(1, TimeUnit.HOURS);
        quick.runScheduledPendingTasks();
        assertTrue(quick.isOpen());
        assertTrue(events.failures.isEmpty());
        quick.close();
        assertEquals(0, admission.agents());
    }
}
