package io.diglett.server;

import io.diglett.server.auth.Authenticator;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.registrar.Registrar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.Registration;
import io.diglett.agent.TunnelSpec;
import io.diglett.common.HostPort;
import io.diglett.server.TestServers.Backend;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Several names on one agent, the agent's own limits, and cleanup that must not depend on plug-ins behaving. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AgentEdgeTests {

    @Test
    void aBurstBeyondThePendingConnectLimitWaitsForSlotsInsteadOfBeingRefused() throws Exception {
        int clients = 60;
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture()) {
            int port = fixture.expose(fixture.agentConfig("burst", echo.port()).withMaxPendingConnects(2));
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(clients);
            try {
                List<CompletableFuture<String>> answers = new java.util.ArrayList<>();
                java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
                for (int i = 0; i < clients; i++) {
                    String message = "client " + i;
                    answers.add(CompletableFuture.supplyAsync(() -> {
                        try (Socket client = TestServers.connect(port)) {
                            client.setSoTimeout(10_000);
                            go.await();
                            client.getOutputStream().write(message.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                            client.shutdownOutput();
                            return new String(client.getInputStream().readAllBytes(),
                                    java.nio.charset.StandardCharsets.UTF_8);
                        } catch (Exception e) {
                            return "failed: " + e;
                        }
                    }, pool));
                }
                go.countDown();
                for (int i = 0; i < clients; i++) {
                    assertEquals("client " + i, answers.get(i).get(30, TimeUnit.SECONDS),
                            "every client of the burst is served, two backend connects at a time");
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void oneAgentCarriesSeveralNamesToTheirOwnBackends() throws Exception {
        try (Backend upper = new Backend(s -> s.getOutputStream().write('U'));
             Backend lower = new Backend(s -> s.getOutputStream().write('l'));
             TunnelFixture fixture = new TunnelFixture()) {
            AgentConfig base = fixture.agentConfig("web", upper.port());
            AgentConfig two = base.withTunnels(List.of(
                    new TunnelSpec("web", new HostPort("127.0.0.1", upper.port())),
                    new TunnelSpec("shop", new HostPort("127.0.0.1", lower.port()))));
            List<Registration> registrations = fixture.agent(two).start().get(10, TimeUnit.SECONDS);
            assertEquals(List.of("web", "shop"), registrations.stream().map(Registration::name).toList());
            for (Registration registration : registrations) {
                try (Socket client = TestServers.connect(registration.publicPort())) {
                    assertEquals(registration.name().equals("web") ? 'U' : 'l', client.getInputStream().read());
                }
            }
        }
    }

    @Test
    void aRegistrarThatThrowsOnUnregisterDoesNotLeakNamesOrPorts() throws Exception {
        Registrar throwing = new Registrar() {
            @Override
            public java.util.concurrent.CompletionStage<Void> register(Exposure exposure) {
                return java.util.concurrent.CompletableFuture.completedFuture(null);
            }

            @Override
            public void unregister(Exposure exposure) {
                throw new IllegalStateException("registrar is broken");
            }
        };
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults(), Authenticator.open(), throwing)) {
            AgentConfig base = fixture.agentConfig("one", echo.port());
            HostPort backend = new HostPort("127.0.0.1", echo.port());
            Agent agent = fixture.agent(base.withTunnels(List.of(new TunnelSpec("one", backend),
                    new TunnelSpec("two", backend))));
            List<Registration> registrations = agent.start().get(10, TimeUnit.SECONDS);
            agent.close();
            TunnelTests.waitFor(() -> fixture.gateway.publicPort("one").isEmpty()
                    && fixture.gateway.publicPort("two").isEmpty(), "both names are released");
            for (Registration registration : registrations) {
                TestServers.awaitClosed(registration.publicPort(), "the port of '" + registration.name() + "' is closed");
            }
        }
    }

    @Test
    void closingTheAgentFromItsOwnCallbackDoesNotHang() throws Exception {
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture()) {
            Agent agent = fixture.agent(fixture.agentConfig("callback", echo.port()));
            // the callback runs on the agent's own event loop, where close() must not wait for itself
            CompletableFuture<Void> closedFromCallback = agent.start().thenRun(agent::close);
            closedFromCallback.get(10, TimeUnit.SECONDS);
            assertEquals("agent stopped", agent.closed().get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void theAgentRefusesStreamsBeyondItsLimit() throws Exception {
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture()) {
            AgentConfig base = fixture.agentConfig("small", echo.port());
            AgentConfig one = base.withMaxStreams(1);
            int port = fixture.expose(one);
            try (Socket first = TestServers.connect(port); Socket second = TestServers.connect(port)) {
                first.getOutputStream().write('1');
                assertEquals('1', first.getInputStream().read());
                second.setSoTimeout(5_000);
                int end;
                try {
                    end = second.getInputStream().read();
                } catch (java.net.SocketException reset) {
                    end = -1;
                }
                assertEquals(-1, end, "the second stream is refused by the agent");
                first.getOutputStream().write('2');
                assertEquals('2', first.getInputStream().read());
            }
        }
    }

    @Test
    void namesAreCheckedBeforeDialing() {
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> AgentConfig.of(
                new HostPort("127.0.0.1", 1), "", "x".repeat(64), new HostPort("127.0.0.1", 2), null));
        assertTrue(bad.getMessage().contains("longer than 63"), bad.getMessage());
    }
}
