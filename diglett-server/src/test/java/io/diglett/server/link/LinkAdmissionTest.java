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
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
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

    /**
     * A connection from {@code ip} ({@code null}: an address that is no IP address), as the gateway takes it: with
     * its guard if admitted, closed if not.
     */
    private EmbeddedChannel connect(String ip) {
        EmbeddedChannel channel = ip == null ? new EmbeddedChannel(false, false) : new From(ip);
        try {
            channel.register();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        PreLoginGuard guard = admission.admit(channel);
        if (guard == null) {
            channel.close();
        } else {
            channel.pipeline().addFirst(PreLoginGuard.NAME, guard);
        }
        return channel;
    }

    /** {@code channel} sends a byte, as a ClientHello would. */
    private static void speak(EmbeddedChannel channel) {
        channel.writeInbound(Unpooled.wrappedBuffer(new byte[] {0x16}));
        channel.releaseInbound();
    }

    @Test
    void eachSourceHasItsShare() throws Exception {
        EmbeddedChannel first = connect("10.0.0.1");
        EmbeddedChannel second = connect("10.0.0.1");
        EmbeddedChannel third = connect("10.0.0.1");
        assertTrue(first.isOpen() && second.isOpen());
        assertFalse(third.isOpen(), "over the share of 2 of 10.0.0.1");
        assertEquals(2, admission.pending());
        assertEquals(2, admission.pendingFrom(ip("10.0.0.1")));
        assertEquals(1, events.count(LinkAdmission.PENDING_LOGINS_PER_IP));
        assertTrue(connect("10.0.0.2").isOpen(), "another source has its own share");

        first.close();
        assertEquals(1, admission.pendingFrom(ip("10.0.0.1")));
        assertTrue(connect("10.0.0.1").isOpen(), "a place given back is free again");
        assertEquals(3, admission.pending());
        for (int i = 0; i < 4; i++) {
            assertTrue(connect(null).isOpen(), "an unknown source is held to the global limit only");
        }
        assertEquals(5, admission.pending());
        assertEquals(0, admission.pendingFrom(ip("10.0.0.4")), "a source with nothing pending has no entry");
        assertEquals(0, events.count(LinkAdmission.PENDING_LOGINS));
    }

    @Test
    void aFullPoolTakesANewConnectionInThePlaceOfTheOldestSilentOne() throws Exception {
        List<EmbeddedChannel> pool = new ArrayList<>();
        for (String ip : List.of("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")) {
            pool.add(connect(ip));
        }
        assertEquals(5, admission.pending());

        EmbeddedChannel newcomer = connect("10.0.0.5");
        assertTrue(newcomer.isOpen(), "admitted although the pool of 5 was full");
        assertFalse(pool.get(0).isOpen(), "the oldest silent connection is closed for it");
        assertTrue(pool.subList(1, 5).stream().allMatch(EmbeddedChannel::isOpen));
        assertEquals(1, events.count(LinkAdmission.EVICTED));
        assertEquals(0, events.count(LinkAdmission.PENDING_LOGINS));
        assertEquals(5, admission.pending(), "the evicted place is given back once, not again at its close");
        assertEquals(1, admission.pendingFrom(ip("10.0.0.1")));
        assertEquals(1, admission.pendingFrom(ip("10.0.0.5")));

        assertTrue(connect("10.0.0.6").isOpen());
        assertFalse(pool.get(1).isOpen(), "then the next oldest");
        assertEquals(0, admission.pendingFrom(ip("10.0.0.1")));
        assertEquals(2, events.count(LinkAdmission.EVICTED));
        assertEquals(5, admission.pending());
    }

    @Test
    void connectionsThatSentNothingAreEvictedBeforeOnesThatDidThenTheOldestOfAll() {
        List<EmbeddedChannel> pool = new ArrayList<>();
        for (int i = 1; i <= 5; i++) {
            pool.add(connect("10.0.0." + i));
        }
        speak(pool.get(2)); // the first three spoke, the youngest of them first
        speak(pool.get(0));
        speak(pool.get(1));

        EmbeddedChannel first = connect("10.0.1.1");
        assertFalse(pool.get(3).isOpen(), "the oldest silent one goes, not the older ones that spoke");
        speak(first);
        EmbeddedChannel second = connect("10.0.1.2");
        assertFalse(pool.get(4).isOpen());
        speak(second);
        assertTrue(pool.subList(0, 3).stream().allMatch(EmbeddedChannel::isOpen));

        assertTrue(connect("10.0.1.3").isOpen());
        assertFalse(pool.get(0).isOpen(), "none silent: the oldest of all goes (by its accept, not its first byte)");
        assertTrue(pool.get(1).isOpen() && pool.get(2).isOpen() && first.isOpen() && second.isOpen());
        assertEquals(3, events.count(LinkAdmission.EVICTED));
        assertEquals(5, admission.pending());
    }

    @Test
    void aSourceOverItsShareIsRefusedAndEvictsNobody() throws Exception {
        List<EmbeddedChannel> pool = new ArrayList<>();
        for (String ip : List.of("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")) {
            pool.add(connect(ip));
        }
        EmbeddedChannel over = connect("10.0.0.1");
        assertFalse(over.isOpen(), "10.0.0.1 has its 2 pending already");
        assertTrue(pool.stream().allMatch(EmbeddedChannel::isOpen), "and takes no one's place");
        assertEquals(1, events.count(LinkAdmission.PENDING_LOGINS_PER_IP));
        assertEquals(0, events.count(LinkAdmission.EVICTED));
        assertEquals(5, admission.pending());
        assertEquals(2, admission.pendingFrom(ip("10.0.0.1")));
    }

    @Test
    void aPoolOverALoweredLimitRefusesNewConnectionsUntilItShrinks() {
        List<EmbeddedChannel> pool = new ArrayList<>();
        for (int i = 1; i <= 5; i++) {
            pool.add(connect("10.0.0." + i));
        }
        config.set(config.get().withPreLogin(config.get().preLogin().withMaxPendingLogins(3)));
        assertFalse(connect("10.0.1.1").isOpen(), "5 pending, over the new limit of 3");
        assertTrue(pool.stream().allMatch(EmbeddedChannel::isOpen), "the pool shrinks by its deadlines, not here");
        assertEquals(1, events.count(LinkAdmission.PENDING_LOGINS));
        pool.get(0).close();
        pool.get(1).close();
        assertTrue(connect("10.0.1.1").isOpen(), "at the limit again: a new one takes the oldest silent one's place");
        assertFalse(pool.get(2).isOpen());
        assertEquals(1, events.count(LinkAdmission.EVICTED));
        assertEquals(3, admission.pending());
    }

    /** Holds a close on its way down the pipeline, as another event loop would run it later. */
    static final class HeldClose extends ChannelOutboundHandlerAdapter {
        private ChannelHandlerContext ctx;
        private ChannelPromise promise;

        @Override
        public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
            this.ctx = ctx;
            this.promise = promise;
        }

        boolean held() {
            return promise != null;
        }

        void run() {
            ctx.close(promise);
        }
    }

    @Test
    void anEvictedConnectionWhoseCloseIsStillOnItsWayNeitherLogsInNorTimesOut() {
        HeldClose loggingIn = new HeldClose();
        HeldClose timingOut = new HeldClose();
        EmbeddedChannel first = connect("10.0.0.1");
        first.pipeline().addLast(loggingIn);
        EmbeddedChannel second = connect("10.0.0.2");
        second.pipeline().addLast(timingOut);
        for (int i = 3; i <= 5; i++) {
            connect("10.0.0." + i);
        }
        connect("10.0.1.1");
        connect("10.0.1.2");
        assertTrue(loggingIn.held() && timingOut.held(), "both evicted, their closes not run yet");
        assertEquals(2, events.count(LinkAdmission.EVICTED));

        assertEquals("the connection is closing", PreLoginGuard.loggedIn(first.pipeline(), sessionEnd()));
        assertEquals(0, admission.agents(), "a Login after the eviction does not make it an agent");
        second.advanceTimeBy(1, TimeUnit.HOURS);
        second.runScheduledPendingTasks();
        assertEquals(0, events.count(LinkAdmission.FIRST_BYTE_TIMEOUT) + events.count(LinkAdmission.LOGIN_TIMEOUT),
                "its deadlines find its place gone: counted once, as evicted");

        loggingIn.run();
        timingOut.run();
        assertFalse(first.isOpen() || second.isOpen());
        assertEquals(5, admission.pending(), "their places were given back once, at the eviction");
        assertEquals(0, admission.agents());
    }

    @Test
    void anIpv6SourceIsItsSlash64() throws UnknownHostException {
        assertTrue(connect("2001:db8:1:2::a").isOpen());
        assertTrue(connect("2001:db8:1:2:ffff::b").isOpen());
        assertFalse(connect("2001:db8:1:2:1:2:3:4").isOpen(), "a third address of the same /64 is over the share of 2");
        assertTrue(connect("2001:db8:1:3::a").isOpen(), "another /64 is not");
        assertEquals(2, admission.pendingFrom(ip("2001:db8:1:2::77")));
        assertSame(ip("10.1.2.3").getClass(), LinkAdmission.sourceOf(ip("::ffff:10.1.2.3")).getClass(),
                "an IPv4-mapped address counts as its IPv4 address");
    }

    @Test
    void aConnectionCountsAsPendingUntilLoginThenAsAnAgentUntilItsSessionEnds() throws Exception {
        From first = new From("10.0.0.1");
        PreLoginGuard guard = admission.admit(first);
        first.pipeline().addLast(PreLoginGuard.NAME, guard);
        first.register();
        assertEquals(1, admission.pending());
        assertEquals(0, admission.agents());

        io.netty.util.concurrent.Promise<Void> session = sessionEnd();
        assertNull(PreLoginGuard.loggedIn(first.pipeline(), session));
        assertEquals(0, admission.pending());
        assertEquals(1, admission.agents());
        assertNull(first.pipeline().get(PreLoginGuard.class), "the guard leaves once the link logged in");

        From second = new From("10.0.0.2");
        second.pipeline().addLast(PreLoginGuard.NAME, admission.admit(second));
        second.register();
        assertEquals("gateway full: 1 agents logged in, the limit",
                PreLoginGuard.loggedIn(second.pipeline(), sessionEnd()));
        assertEquals(1, events.count(LinkAdmission.MAX_AGENTS));
        assertEquals(0, admission.pending());
        assertEquals(1, admission.agents());
        second.close();
        assertEquals(1, admission.agents(), "a link turned away gives back nothing it did not hold");

        first.close();
        first.runPendingTasks();
        assertEquals(1, admission.agents(), "the session holds the place: other links of it may be up");
        session.setSuccess(null);
        assertEquals(0, admission.agents(), "given back when the session ends");
    }

    @Test
    void aLinkThatJoinsASessionLeavesThePendingPoolWithoutCountingAsAnAgent() throws Exception {
        From joining = new From("10.0.0.3");
        joining.pipeline().addLast(PreLoginGuard.NAME, admission.admit(joining));
        joining.register();
        assertEquals(1, admission.pending());
        assertNull(PreLoginGuard.joined(joining.pipeline()));
        assertEquals(0, admission.pending());
        assertEquals(0, admission.agents(), "its session's link limit bounds it, not --max-agents");
        assertNull(joining.pipeline().get(PreLoginGuard.class));
        joining.close();
        joining.runPendingTasks();
        assertEquals(0, admission.pending() + admission.agents());
    }

    /** A session's end that runs its listeners at once. */
    private static io.netty.util.concurrent.Promise<Void> sessionEnd() {
        return io.netty.util.concurrent.ImmediateEventExecutor.INSTANCE.newPromise();
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
        io.netty.util.concurrent.Promise<Void> session = sessionEnd();
        assertNull(PreLoginGuard.loggedIn(quick.pipeline(), session));
        quick.advanceTimeBy(1, TimeUnit.HOURS);
        quick.runScheduledPendingTasks();
        assertTrue(quick.isOpen());
        assertTrue(events.failures.isEmpty());
        quick.close();
        session.setSuccess(null);
        assertEquals(0, admission.agents());
    }
}
