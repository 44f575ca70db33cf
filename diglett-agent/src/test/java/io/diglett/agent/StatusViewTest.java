package io.diglett.agent;

import io.diglett.common.testing.ManualClock;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.HostPort;
import io.diglett.protocol.mux.StreamObserver;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The agent's status model and its terminal view, on a fixed clock. */
class StatusViewTest {

    @Test
    void theViewShowsEachLinkAndItsStreams() {
        AgentConfig config = AgentConfig.of(new HostPort("gw.test", 20000), "", "web",
                new HostPort("localhost", 8080), TrustSettings.plain()).withLinks(3);
        AgentStatus status = new AgentStatus(config, new ManualClock(Instant.parse("2026-11-24T12:00:00Z")));
        status.link(1, AgentStatus.LinkState.ONLINE, 1);
        status.link(2, AgentStatus.LinkState.ONLINE, 4);
        status.link(3, AgentStatus.LinkState.RETRYING, 0);
        status.newStream("web", "203.0.113.7:5555", status.link(1));
        status.newStream("web", "203.0.113.7:5556", status.link(2));
        status.newStream("web", "203.0.113.7:5557", status.link(2));
        String screen = StatusView.render(status, 100);
        assertTrue(screen.contains("Links         2 of 3 online (#1 1 stream, #2 2 streams, #3 retrying)"), screen);
    }

    @Test
    void theViewShowsStateUrlsFiguresRecentConnectionsAndTheLastError() {
        ManualClock clock = new ManualClock(Instant.parse("2026-11-24T12:00:00Z"));
        AgentConfig config = AgentConfig.of(new HostPort("gw.test", 20000), "", "web",
                new HostPort("localhost", 8080), TrustSettings.plain());
        AgentStatus status = new AgentStatus(config, clock);
        status.state(AgentStatus.State.CONNECTING);
        status.fingerprint("SHA256:abc");
        status.online(List.of(new Registration("web", 33605, List.of("https://web.gw.test"))));

        StreamObserver ok = status.newStream("web", "203.0.113.7:5555");
        ok.opened();
        ok.received(2048);
        ok.sent(3 * 1024 * 1024);
        clock.advance(Duration.ofMillis(120));
        ok.closed(true, null);
        StreamObserver refused = status.newStream("web", "203.0.113.8:6666");
        refused.closed(false, "backend localhost:8080 unreachable: Connection refused");
        StreamObserver open = status.newStream("web", "203.0.113.9:7777");
        open.opened();
        clock.advance(Duration.ofSeconds(75));

        AgentStatus.Tunnel web = status.tunnels().get(0);
        assertEquals(3, web.connections());
        assertEquals(1, web.open());
        assertEquals(1, web.backendFailures());
        assertEquals(2048, web.bytesIn());
        assertEquals(2, status.recent().size());

        String screen = StatusView.render(status, 100);
        assertTrue(screen.contains("online for 1m15s"), screen);
        assertTrue(screen.contains("SHA256:abc"), screen);
        assertTrue(screen.contains("https://web.gw.test  gw.test:33605 -> localhost:8080"), screen);
        assertTrue(screen.matches("(?s).*web\\s+1\\s+3\\s+2\\.0 KiB\\s+3\\.0 MiB.*"), screen);
        assertTrue(screen.contains("203.0.113.7:5555"), screen);
        assertTrue(screen.contains("120ms"), screen);
        assertTrue(screen.contains("refused: backend localhost:8080"), screen);

        status.retrying("the connection to the gateway closed", Duration.ofSeconds(4));
        screen = StatusView.render(status, 100);
        assertTrue(screen.contains("reconnecting in 4 s"), screen);
        assertTrue(screen.contains("Last error    12:01:15 the connection to the gateway closed")
                || screen.contains("the connection to the gateway closed"), screen);
        status.state(AgentStatus.State.CONNECTING);
        assertEquals(1, status.reconnects());
    }
}
