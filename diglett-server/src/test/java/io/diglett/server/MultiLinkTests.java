package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.AgentStatus;
import io.diglett.server.auth.Authenticator;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.link.TestTunnels;
import io.diglett.server.link.Tunnel;
import io.diglett.server.registrar.Registrar;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An agent with several links (issue 17), end to end with the real agent: one login and one registration for all its
 * links, public connections spread over the links and over the gateway's event loops, a cut link resetting only its
 * own connections while the others carry on and the agent opens it again, and the agent's status showing its links.
 */
@Timeout(60)
class MultiLinkTests {

    /** A registrar that counts what it is asked, so a second registration would show. */
    private static final class CountingRegistrar implements Registrar {
        final AtomicInteger registered = new AtomicInteger();

        @Override
        public CompletionStage<Void> register(Exposure exposure) {
            registered.incrementAndGet();
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public void unregister(Exposure exposure) {
        }
    }

    /** An echo backend: every byte comes back. */
    private static TestServers.Backend echo() throws IOException {
        return new TestServers.Backend(socket -> {
            InputStream in = socket.getInputStream();
            OutputStream out = socket.getOutputStream();
            byte[] buf = new byte[4096];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
                out.flush();
            }
        });
    }

    /** Writes one byte and reads it back: the connection carries data both ways. */
    private static boolean echoes(Socket client, int value) {
        try {
            client.setSoTimeout(5_000);
            client.getOutputStream().write(value);
            client.getOutputStream().flush();
            return client.getInputStream().read() == value;
        } catch (IOException e) {
            return false;
        }
    }

    private static Tunnel tunnel(TunnelFixture fixture, String name) {
        return fixture.gateway.registrations().names().lookup(name).orElseThrow();
    }

    @Test
    void threeLinksOneRegistrationAndTheConnectionsSpreadOverThem() throws Exception {
        CountingRegistrar registrar = new CountingRegistrar();
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults(), Authenticator.open(), registrar);
             TestServers.Backend backend = echo()) {
            AgentConfig config = fixture.agentConfig("web", backend.port()).withLinks(3);
            Agent agent = fixture.agent(config);
            int port = agent.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
            TunnelTests.waitFor(() -> agent.status().linksOnline() == 3, "three links online");
            Tunnel tunnel = tunnel(fixture, "web");
            TunnelTests.waitFor(() -> tunnel.links().size() == 3, "the gateway sees three links");
            assertEquals(1, registrar.registered.get(), "the name was registered once, by the link that logged in");
            assertEquals(3, new HashSet<>(TestTunnels.linkLoops(tunnel)).size(),
                    "each link on an event loop of its own (the gateway has four here)");

            List<Socket> clients = new ArrayList<>();
            try {
                for (int i = 0; i < 30; i++) {
                    Socket client = TestServers.connect(port);
                    clients.add(client);
                    assertTrue(echoes(client, i), "connection " + i + " carries data");
                }
                for (Tunnel.LinkFigures link : tunnel.links()) {
                    assertEquals(10, link.streams(), "link " + link.number() + " carries a third: " + tunnel.links());
                }
                for (AgentStatus.Link link : agent.status().links()) {
                    assertEquals(10, link.open(), "the agent counts the same on link " + link.slot());
                }
            } finally {
                for (Socket client : clients) {
                    client.close();
                }
            }
        }
    }

    @Test
    void aConnectionGoesOnTheLinkOfItsOwnLoopWhileThatLinkIsAboutAsBusyAsTheLeastBusy() throws Exception {
        try (TunnelFixture fixture = new TunnelFixture();
             TestServers.Backend backend = echo()) {
            Agent agent = fixture.agent(fixture.agentConfig("web", backend.port()).withLinks(2));
            agent.start().get(10, TimeUnit.SECONDS);
            Tunnel tunnel = tunnel(fixture, "web");
            TunnelTests.waitFor(() -> tunnel.links().size() == 2, "the gateway sees two links");
            List<io.netty.channel.EventLoop> loops = TestTunnels.linkLoops(tunnel);
            assertTrue(loops.get(0) != loops.get(1), "the two links on event loops of their own");
            int local = tunnel.links().get(1).number();
            int other = tunnel.links().get(0).number();
            io.netty.channel.EventLoop near = loops.get(1);
            List<Integer> placed = new ArrayList<>();
            try {
                // slack 4 over the least busy link (which has none): five connections stay on their own loop
                for (int i = 0; i < 5; i++) {
                    placed.add(TestTunnels.place(tunnel, near));
                    assertEquals(local, placed.get(i), "connection " + i + " stays on its own loop's link");
                }
                placed.add(TestTunnels.place(tunnel, near));
                assertEquals(other, placed.get(5), "past the slack it goes to the least busy link");
                placed.add(TestTunnels.place(tunnel, null));
                assertEquals(other, placed.get(6), "from no loop: the least busy link");
            } finally {
                for (int number : placed) {
                    TestTunnels.unplace(tunnel, number);
                }
            }
        }
    }

    @Test
    void aCutLinkResetsOnlyItsConnectionsAndTheAgentOpensItAgain() throws Exception {
        try (TunnelFixture fixture = new TunnelFixture();
             TestServers.Backend backend = echo()) {
            Agent agent = fixture.agent(fixture.agentConfig("web", backend.port()).withLinks(2));
            int port = agent.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
            TunnelTests.waitFor(() -> agent.status().linksOnline() == 2, "two links online");
            Tunnel tunnel = tunnel(fixture, "web");
            TunnelTests.waitFor(() -> tunnel.links().size() == 2, "the gateway sees two links");

            List<Socket> clients = new ArrayList<>();
            try {
                for (int i = 0; i < 10; i++) {
                    Socket client = TestServers.connect(port);
                    clients.add(client);
                    assertTrue(echoes(client, i));
                }
                // link 1 logged in and registered the name: cutting it must not take the name away
                assertNotNull(TestTunnels.cutLink(tunnel, 1));
                int alive = 0;
                int cut = 0;
                for (Socket client : clients) {
                    if (echoes(client, 42)) {
                        alive++;
                    } else {
                        cut++;
                    }
                }
                assertEquals(5, cut, "the cut link's five connections end");
                assertEquals(5, alive, "the other link's five carry on");
                assertTrue(fixture.gateway.publicPort("web").isPresent(), "the name stays");
                try (Socket later = TestServers.connect(port)) {
                    assertTrue(echoes(later, 7), "a new connection goes through at once, on the remaining link");
                }
                TunnelTests.waitFor(() -> agent.status().linksOnline() == 2 && tunnel.links().size() == 2,
                        "the agent joined a new link to its session");
                assertEquals(1, agent.timesOnline(), "the agent never went offline");
            } finally {
                for (Socket client : clients) {
                    client.close();
                }
            }
        }
    }

    @Test
    void oneLinkWhenAsked() throws Exception {
        try (TunnelFixture fixture = new TunnelFixture();
             TestServers.Backend backend = echo()) {
            Agent agent = fixture.agent(fixture.agentConfig("web", backend.port()).withLinks(1));
            int port = agent.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
            try (Socket client = TestServers.connect(port)) {
                assertTrue(echoes(client, 1));
            }
            assertEquals(1, tunnel(fixture, "web").links().size());
            assertEquals(1, agent.status().links().size());
        }
    }
}
