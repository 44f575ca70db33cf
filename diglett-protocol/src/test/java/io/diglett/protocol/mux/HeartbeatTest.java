package io.diglett.protocol.mux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
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

/** Keepalive on a mock clock: Ping after one silent interval, dead after three, any frame counts as heard. */
class HeartbeatTest {

    private final MockTicker ticker = Ticker.newMockTicker();
    private final List<Throwable> failures = new ArrayList<>();
    private Heartbeat heartbeat;
    private EmbeddedChannel channel;

    @BeforeEach
    void setUp() {
        heartbeat = new Heartbeat(Duration.ofSeconds(10), ticker);
        channel = new EmbeddedChannel(heartbeat, new ChannelInboundHandlerAdapter() {
            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                failures.add(cause);
            }
        });
    }

    @AfterEach
    void tearDown() {
        channel.finishAndReleaseAll();
    }

    private void after(long seconds) {
        ticker.advance(seconds, TimeUnit.SECONDS);
        heartbeat.tick();
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
        after(5);
        channel.writeInbound(Frame.fin(1));
        ((Frame) channel.readInbound()).release();
        after(6);
        assertNull(channel.readOutbound(), "heard 6 s ago: no Ping yet");
    }

    @Test
    void aSilentLinkIsPingedThenDeclaredDead() {
        after(10);
        assertTrue(sentPing() != null, "a Ping after one silent interval");
        after(10);
        assertTrue(sentPing() != null, "and after the second");
        assertTrue(failures.isEmpty());
        after(10);
        assertEquals(1, failures.size());
        ProtocolException dead = assertInstanceOf(ProtocolException.class, failures.get(0));
        assertEquals("link dead: nothing heard from the peer for 30000 ms", dead.getMessage());
    }

    @Test
    void anAnswerKeepsTheLinkAlive() {
        after(10);
        sentPing();
        after(10);
        sentPing();
        channel.writeInbound(Frame.pong(channel.alloc(), 2)); // the peer answers just in time
        ((Frame) channel.readInbound()).release();
        after(10);
        after(10);
        assertTrue(failures.isEmpty(), "heard 20 s ago: alive");
        sentPing();
        sentPing();
    }
}
