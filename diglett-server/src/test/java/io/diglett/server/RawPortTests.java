package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.Registration;
import io.diglett.agent.TrustSettings;
import io.diglett.agent.TunnelSpec;
import io.diglett.common.HostPort;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.Requests;
import io.diglett.server.TestServers.Backend;
import io.diglett.server.cli.ServerCommand;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * With the ingress on (a real gateway process with {@code --domain --http}), a name has no raw public port unless
 * its agent asks ({@code raw=on}): the ingress, which sets the forwarding headers, is the only way in. The log line
 * then names the URL instead of a port. Agents of earlier releases and protocol versions, which never send the
 * flag, are served the same way.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RawPortTests {

    private static final String DOMAIN = "gateway.test";

    private static ChildProcess gateway() throws Exception {
        return ChildProcess.start(ServerCommand.class, "-l", "127.0.0.1:0", "--bind", "127.0.0.1", "--plaintext",
                "--domain", DOMAIN, "--http", "127.0.0.1:0");
    }

    private static int agentPort(ChildProcess gateway) throws InterruptedException {
        java.util.regex.Matcher listening = gateway.await("listening for agents on 127\\.0\\.0\\.1:(\\d+) \\(([a-z_]+),",
                30_000);
        // the transport of this pass of the tests: the best here, or the one -Ddiglett.transport asks for
        assertEquals(io.diglett.common.transport.Transport.best().label(), listening.group(2));
        return Integer.parseInt(listening.group(1));
    }

    private static int httpPort(ChildProcess gateway) throws InterruptedException {
        return Integer.parseInt(gateway.await("serving http://NAME\\.gateway\\.test on /127\\.0\\.0\\.1:(\\d+)", 30_000)
                .group(1));
    }

    /** A backend answering every connection with one HTTP response. */
    private static Backend httpBackend() throws Exception {
        return new Backend(s -> {
            IngressTests.head(s.getInputStream());
            s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nbackend"
                    .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
        });
    }

    @TempDir
    Path temp;

    /**
     * A registrar that routes a proxy to each name's port (traefik, caddy) needs the port: with it, every name
     * gets one on an ingress gateway too, and the proxy's route points at it.
     */
    @Test
    void aRegistrarThatRoutesToPortsGetsAPortForEveryName() throws Exception {
        Path dynamic = Files.createDirectories(temp.resolve("dynamic"));
        try (ChildProcess gateway = ChildProcess.start(ServerCommand.class, "-l", "127.0.0.1:0", "--bind",
                "127.0.0.1", "--plaintext", "--domain", DOMAIN, "--http", "127.0.0.1:0", "--registrar", "traefik",
                "--registrar-option", "dir=" + dynamic, "--registrar-option", "domain=" + DOMAIN);
             RawAgent agent = new RawAgent(agentPort(gateway)).loggedIn()) {
            int port = agent.register(1, "web");
            assertNotEquals(0, port, "traefik routes web." + DOMAIN + " to the port");
            agent.finish();
            gateway.await("register domain 'web' -> '" + port + "'$", 10_000);
            assertTrue(Files.readString(dynamic.resolve("diglett-web.yml")).contains("http://127.0.0.1:" + port));
        }
    }

    @Test
    void aNameHasNoRawPortOnAnIngressGatewayUnlessItsAgentAsks() throws Exception {
        try (Backend backend = httpBackend(); ChildProcess gateway = gateway()) {
            int agents = agentPort(gateway);
            int http = httpPort(gateway);
            HostPort target = new HostPort("127.0.0.1", backend.port());
            AgentConfig config = AgentConfig.of(new HostPort("127.0.0.1", agents), "", "web", target,
                    TrustSettings.plain()).withTunnels(List.of(new TunnelSpec("web", target),
                    new TunnelSpec("raw", target).withRawPort(true)));
            try (Agent agent = new Agent(config)) {
                List<Registration> online = agent.start().get(30, TimeUnit.SECONDS);
                Registration web = online.stream().filter(r -> r.name().equals("web")).findFirst().orElseThrow();
                Registration raw = online.stream().filter(r -> r.name().equals("raw")).findFirst().orElseThrow();
                assertEquals(0, web.publicPort(), "no raw port: the ingress is the only way in");
                assertEquals(List.of("http://web." + DOMAIN + ":" + http), web.urls());
                gateway.await("register domain 'web' -> 'http://web\\.gateway\\.test:" + http + "'$", 10_000);
                assertNotEquals(0, raw.publicPort(), "raw=on asks for one");
                gateway.await("register domain 'raw' -> '" + raw.publicPort() + "'$", 10_000);
                for (String name : new String[] {"web", "raw"}) {
                    try (Socket socket = HttpTestClient.connect(http)) {
                        assertEquals("backend", HttpTestClient.exchange(socket,
                                HttpTestClient.get(name + "." + DOMAIN, "/")).text(), name + " on the ingress");
                    }
                }
                try (Socket socket = HttpTestClient.connect(raw.publicPort())) {
                    assertEquals("backend", HttpTestClient.exchange(socket, HttpTestClient.get("anything", "/"))
                            .text(), "the raw port reaches the backend untouched");
                }
            }
        }
    }

    /**
     * The versioning rule (docs/protocol.md, section 9): an agent of every version the gateway serves registers
     * without the raw-port flag, as agents of earlier releases do, and is served: Ok with port 0 and its URL.
     * The flag itself is an option of the Register frame, not a new version.
     */
    @Test
    void agentsOfEveryServedVersionRegisterWithoutTheFlagAndGetTheirUrl() throws Exception {
        try (ChildProcess gateway = gateway()) {
            int agents = agentPort(gateway);
            int http = httpPort(gateway);
            for (int version = Protocol.OLDEST_SERVED_VERSION; version <= Protocol.VERSION; version++) {
                try (RawAgent agent = new RawAgent(agents).loggedIn(version)) {
                    String name = "old" + version;
                    agent.send(FrameKind.REGISTER, 1, name);
                    RawAgent.RawFrame ok = agent.readSkippingKeepalive();
                    assertEquals(FrameKind.OK.code(), ok.kind(), ok.text());
                    assertEquals(0, ((ok.payload()[0] & 0xff) << 8) | (ok.payload()[1] & 0xff), "version " + version);
                    assertEquals("http://" + name + "." + DOMAIN + ":" + http,
                            new String(ok.payload(), 2, ok.payload().length - 2, StandardCharsets.UTF_8));
                    agent.finish();
                    gateway.await("register domain '" + name + "' -> 'http://" + name + "\\.gateway\\.test:" + http
                            + "'$", 10_000);
                }
            }
            try (RawAgent agent = new RawAgent(agents).loggedIn()) {
                agent.send(FrameKind.REGISTER, 1, ("asks\0" + (char) Requests.FLAG_RAW_PORT)
                        .getBytes(StandardCharsets.US_ASCII));
                RawAgent.RawFrame ok = agent.readSkippingKeepalive();
                assertEquals(FrameKind.OK.code(), ok.kind(), ok.text());
                assertNotEquals(0, ((ok.payload()[0] & 0xff) << 8) | (ok.payload()[1] & 0xff), "the flag: a raw port");
            }
        }
    }
}
