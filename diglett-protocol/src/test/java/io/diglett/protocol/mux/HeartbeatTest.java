package io.diglett.protocol.mux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.ProtocolException;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.concurrent.MockTicker;
import io.netty.util.concurrent.Ticker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Keepalive on a mock clock that drives both the heartbeat and the channel's event loop, so its own timer runs
 * exactly when it is due: Ping after one silent interval and after two, dead after exactly three since the
 * peer was last heard (not at the next check of a fixed schedule), any frame counts as heard.
 */
class HeartbeatTest {

    private final MockTicker ticker = Ticker.newMockTicker();
    private final List<Throwable> failures = new ArrayList<>();
    private Heartbeat heartbeat;
    private EmbeddedChannel channel;

    @BeforeEach
    void setUp() {
        heartbeat = new Heartbeat(Duration.ofSeconds(10), ticker);
        channel = EmbeddedChannel.builder().ticker(ticker).handlers(heartbeat, new ChannelInboundHandlerAdapter() {
            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                failures.add(cause);
            }
        }).build();
    }

    @AfterEach
    void tearDown() {
        channel.finishAndReleaseAll();
    }

    /** Lets {@code millis} pass, running each timer at the moment it is due, as the event loop would. */
    private void after(long millis) {
        long left = TimeUnit.MILLISECONDS.toNanos(millis);
        for (long next; (next = heartbeat.nextCheckInNanos()) >= 0 && next <= left; ) {
            ticker.advance(next, TimeUnit.NANOSECONDS);
            left -= next;
            channel.runScheduledPendingTasks();
        }
        ticker.advance(left, TimeUnit.NANOSECONDS);
        channel.runScheduledPendingTasks();
    }

    private void heard() {
        channel.writeInbound(Frame.fin(1));
        ((Frame) channel.readInbound()).release();
    }

    private Frame sentPing() {
        Frame ping = channel.readOutbound();
        if (ping != null) {
            assertEquals(FrameKind.PING, ping.kind());
            ping.release();
        }
        return ping;
    }

    @Test
    void aBusyLinkSendsNoPing() {
        after(5_000);
        heard();
        after(6_000);
        assertNull(channel.readOutbound(), "heard 6 s ago: no Ping yet");
        assertEquals(TimeUnit.SECONDS.toNanos(4), heartbeat.nextCheckInNanos(),
                "the timer is set for one interval after the frame, not for the next multiple of 10 s");
        after(4_000);
        assertNotNull(sentPing(), "a Ping once 10 s passed without a frame");
    }

    @Test
    void aSilentLinkIsPingedThenDeclaredDeadAtThreeIntervals() {
        after(10_000);
        assertNotNull(sentPing(), "a Ping after one silent interval");
        after(10_000);
        assertNotNull(sentPing(), "and after the second");
        after(9_999);
        assertTrue(failures.isEmpty(), "29.999 s of silence: not dead yet");
        assertNull(sentPing());
        after(1);
        assertEquals(1, failures.size());
        ProtocolException dead = assertInstanceOf(ProtocolException.class, failures.get(0));
        assertEquals("link dead: nothing heard from the peer for 30000 ms", dead.getMessage());
        assertNull(sentPing(), "no third Ping: the link is dead");
        assertEquals(-1, heartbeat.nextCheckInNanos(), "and no more checks");
    }

    @Test
    void deathIsDeclaredThreeIntervalsAfterTheLastFrameWhenItCameBetweenChecks() {
        after(10_000);
        sentPing();
        after(5_000);
        heard(); // the last frame, at 15 s: half-way between two 10-second marks
        after(29_999);
        assertTrue(failures.isEmpty(), "44.999 s: only 29.999 s since the peer was heard");
        assertNotNull(sentPing(), "Pinged at 25 s");
        assertNotNull(sentPing(), "and at 35 s");
        after(1);
        assertEquals(1, failures.size(), "dead at 45 s, exactly three intervals after the frame (not at 50 s)");
        assertEquals("link dead: nothing heard from the peer for 30000 ms", failures.get(0).getMessage());
    }

    @Test
    void aLateTimerPingsOnceAndStillDeclaresDeathOnTime() {
        ticker.advance(25, TimeUnit.SECONDS); // the loop was busy: the 10 s and 20 s marks pass unseen
        channel.runScheduledPendingTasks(); // and the timer runs once, late
        assertNotNull(sentPing(), "one Ping for the overdue marks");
        assertNull(sentPing(), "not two at once");
        after(4_999);
        assertTrue(failures.isEmpty());
        after(1);
        assertEquals(1, failures.size(), "dead at 30 s all the same");
    }

    @Test
    void anAnswerKeepsTheLinkAlive() {
        after(10_000);
        assertNotNull(sentPing());
        after(10_000);
        assertNotNull(sentPing());
        channel.writeInbound(Frame.pong(channel.alloc(), 2)); // the peer answers just in time
        ((Frame) channel.readInbound()).release();
        after(10_000);
        after(10_000);
        assertTrue(failures.isEmpty(), "heard 20 s ago: alive");
        assertNotNull(sentPing(), "Pinged 10 s after the Pong");
        assertNotNull(sentPing(), "and 20 s after it");
        after(10_000);
        assertEquals(1, failures.size(), "dead 30 s after the Pong");
    }

    @Test
    void aClosedLinkStopsTheTimer() {
        after(10_000);
        sentPing();
        channel.close();
        assertEquals(-1, heartbeat.nextCheckInNanos());
        after(30_000);
        assertTrue(failures.isEmpty(), "a closed link is not declared dead");
    }
}
