package io.diglett.server;

import io.diglett.server.auth.Authenticator;
import io.diglett.server.auth.AuthenticatorProvider;
import io.diglett.server.auth.FileAuthenticator;
import io.diglett.server.auth.TokenFile;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.TlsSettings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentCommand;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.RejectedException;
import io.diglett.common.testing.CliRun;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.testing.Fuzzing.LogCapture;
import io.diglett.server.TestServers.Backend;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import io.diglett.agent.Registration;
import java.util.concurrent.CompletableFuture;
import java.util.List;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Tokens and names: the token file, its live reload, a pluggable authenticator, and the handshake timeout. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AuthTests {

    @TempDir
    Path temp;

    private Path tokens;
    private Backend echo;
    private TunnelFixture fixture;

    @BeforeEach
    void start() throws Exception {
        echo = new Backend(socket -> socket.getInputStream().transferTo(socket.getOutputStream()));
        tokens = temp.resolve("tokens");
        Files.writeString(tokens, """
                # token                names
                alice-secret           example team-*
                sha256:%s  *
                """.formatted(HexFormat.of().formatHex(TokenFile.sha256("root-secret"))));
        Authenticator file = FileAuthenticator.start(tokens, Duration.ofMillis(50));
        fixture = new TunnelFixture(GatewayConfig.defaults(), file);
    }

    @AfterEach
    void stop() throws IOException {
        fixture.close();
        echo.close();
    }

    private AgentConfig agent(String token, String name) {
        return fixture.agentConfig(name, echo.port()).withToken(token);
    }

    private RejectedException refused(AgentConfig config) {
        Agent agent = fixture.agent(config);
        ExecutionException failure = assertThrows(ExecutionException.class,
                () -> agent.start().get(10, TimeUnit.SECONDS));
        return assertInstanceOf(RejectedException.class, failure.getCause());
    }

    /**
     * Replaces {@code file} whole (write, then rename): the poller never reads it truncated or half-written,
     * which would parse as fewer tokens and withdraw tunnels.
     */
    private static void replace(Path file, String content) throws IOException {
        Path next = Files.writeString(file.resolveSibling(file.getFileName() + ".next"), content);
        Files.move(next, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void assertServes(int port) throws IOException {
        try (Socket client = TestServers.connect(port)) {
            client.setSoTimeout(5_000);
            client.getOutputStream().write('a');
            assertEquals('a', client.getInputStream().read());
        }
    }

    @Test
    void aTokenMayRegisterItsNamesOnly() throws Exception {
        assertServes(fixture.expose(agent("alice-secret", "example")));
        assertServes(fixture.expose(agent("alice-secret", "team-blue")));
        assertServes(fixture.expose(agent("root-secret", "anything")));
        assertEquals("name 'other' is not allowed: this token may register only example, team-*",
                refused(agent("alice-secret", "other")).getMessage());
    }

    @Test
    void wrongOrMissingTokensAreRefused() {
        assertEquals("login refused: unknown token", refused(agent("mallory", "example")).getMessage());
        assertEquals("login refused: a token is required (--token or DIGLETT_TOKEN)",
                refused(agent("", "example")).getMessage());
    }

    /** The agent's command line, run as its main runs it, against this gateway and its token file. */
    @Test
    void theAgentCommandWithAWrongTokenExitsWith1AndSaysWhyWithoutRetrying() throws Exception {
        LogCapture logs = LogCapture.start();
        CliRun.Result run;
        long start = System.nanoTime();
        try {
            run = CliRun.run(new AgentCommand(), Map.of(), "--no-console", "-g", "127.0.0.1:" + fixture.address.getPort(),
                    "--fingerprint", fixture.gateway.fingerprint().toString(),
                    "--known-gateways", temp.resolve("known_gateways").toString(),
                    "-t", "mallory", "-n", "example", "127.0.0.1:" + echo.port());
        } finally {
            logs.stop();
        }
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertEquals(1, run.exitCode(), "exit code; the agent logged:\n" + logs.text());
        assertTrue(logs.text().contains("the gateway refused this agent: login refused: unknown token"), logs.text());
        assertTrue(!logs.text().contains("reconnecting"), "no retry: " + logs.text());
        assertTrue(millis < 10_000, "returned after " + millis + " ms");
        assertEquals(1.0, fixture.gateway.metrics().refusals("login_refused"),
                "one login, refused once");
        assertTrue(fixture.gateway.publicPort("example").isEmpty());
    }

    @Test
    void editingTheFileTakesEffectWithoutRestartAndClosesWithdrawnTunnels() throws Exception {
        Agent alice = fixture.agent(agent("alice-secret", "example"));
        int port = alice.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
        assertServes(port);
        refused(agent("bob-secret", "bob"));

        replace(tokens, "alice-secret team-*\nbob-secret bob\n");
        String reason = alice.closed().get(10, TimeUnit.SECONDS);
        assertTrue(reason.contains("authorization for 'example' withdrawn"), reason);
        TunnelTests.waitFor(() -> fixture.gateway.publicPort("example").isEmpty(), "the name is released");
        TestServers.awaitClosed(port, "its public port is closed");

        assertServes(fixture.expose(agent("bob-secret", "bob")));
        assertServes(fixture.expose(agent("alice-secret", "team-red")));
    }

    @Test
    void aFileThatNoLongerParsesKeepsThePreviousTokens() throws Exception {
        Agent alice = fixture.agent(agent("alice-secret", "example"));
        int port = alice.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
        LogCapture logs = LogCapture.start();
        try {
            replace(tokens, "alice-secret example\nlonely-token-without-patterns\n");
            fixture.gateway.authenticator().reload(); // re-reads the file now (unless the poll did), and waits
            assertTrue(logs.text().contains("token file changed but does not parse, keeping the previous tokens"),
                    "the broken file was seen and refused: " + logs.text());
        } finally {
            logs.stop();
        }
        assertTrue(!alice.closed().isDone(), "the agent keeps its tunnel");
        assertServes(port);
        assertServes(fixture.expose(agent("root-secret", "still-works")));
    }

    /**
     * Revocation fails closed: without its file, the gateway knows no token; one log line per change. The refusals
     * are the gateway's trouble, not the agents' tokens: they are retryable, so agents come back by themselves
     * once the file is.
     */
    @Test
    void aMissingTokenFileSendsAgentsAwayAndRefusesLoginsUntilItIsBack() throws Exception {
        Agent alice = fixture.agent(agent("alice-secret", "example").withReconnectCap(Duration.ofMillis(500)));
        alice.start().get(10, TimeUnit.SECONDS);
        int online = alice.timesOnline();
        Path aside = temp.resolve("tokens.aside");
        LogCapture logs = LogCapture.start();
        try {
            Files.move(tokens, aside, StandardCopyOption.ATOMIC_MOVE);
            fixture.gateway.authenticator().reload();
            TunnelTests.waitFor(() -> alice.status().lastError() != null
                    && alice.status().lastError().contains("the gateway cannot read its token file"),
                    "the agent is sent away with the reason");
            Agent bob = fixture.agent(agent("root-secret", "other").withReconnectCap(Duration.ofMillis(500)));
            CompletableFuture<List<Registration>> bobOnline = bob.start();
            TunnelTests.waitFor(() -> bob.status().lastError() != null && bob.status().lastError()
                    .contains("login refused for now: the gateway cannot read its token file: no token is valid"),
                    "a new login is refused, for now");
            assertTrue(!alice.closed().isDone() && !bob.closed().isDone(), "both try again");
            for (int i = 0; i < 5; i++) {
                fixture.gateway.authenticator().reload(); // five more polls of the missing file, at once
            }
            Files.move(aside, tokens, StandardCopyOption.ATOMIC_MOVE);
            fixture.gateway.authenticator().reload();
            bobOnline.get(10, TimeUnit.SECONDS);
            TunnelTests.waitFor(() -> alice.timesOnline() > online, "alice is back by herself");
        } finally {
            logs.stop();
        }
        assertEquals(1, count(logs.text(), "cannot read token file " + tokens + " (missing): no token is valid"),
                logs.text());
        assertEquals(1, count(logs.text(), "token file " + tokens + " is readable again: 2 token(s)"), logs.text());
    }

    private static int count(String text, String part) {
        int found = 0;
        for (int at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + 1)) {
            found++;
        }
        return found;
    }

    @Test
    void aPluggedInAuthenticatorIsFoundByName() throws Exception {
        Authenticator teams = AuthenticatorProvider.find("team-prefix").create(Map.of("prefix", "team-"));
        try (TunnelFixture plugged = new TunnelFixture(GatewayConfig.defaults(), teams)) {
            assertServes(plugged.expose(plugged.agentConfig("red-web", echo.port()).withToken("team-red")));
            Agent blue = plugged.agent(plugged.agentConfig("red-api", echo.port()).withToken("team-blue"));
            ExecutionException failure = assertThrows(ExecutionException.class,
                    () -> blue.start().get(10, TimeUnit.SECONDS));
            assertEquals("name 'red-api' is not allowed: team blue may register only blue-*",
                    failure.getCause().getMessage());
        }
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> AuthenticatorProvider.find("nope"));
        assertTrue(unknown.getMessage().contains("open") && unknown.getMessage().contains("file")
                && unknown.getMessage().contains("team-prefix"), unknown.getMessage());
    }

    @Test
    void anAgentThatDoesNotFinishTheHandshakeInTimeIsClosed() throws Exception {
        GatewayConfig.Limits quick = GatewayConfig.Limits.defaults().withHandshakeTimeout(Duration.ofMillis(300));
        try (TunnelFixture strict = new TunnelFixture(GatewayConfig.defaults().withTls(TlsSettings.plain())
                .withLimits(quick))) {
            try (RawAgent silent = new RawAgent(strict.address.getPort())) {
                long start = System.nanoTime();
                silent.handshake(Protocol.VERSION);
                assertEquals(Protocol.VERSION, silent.readHandshake());
                RawAgent.RawFrame error = silent.read();
                long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertEquals(FrameKind.ERROR.code(), error.kind());
                assertTrue(error.text().startsWith("handshake not finished within 300 ms"), error.text());
                assertTrue(millis >= 250 && millis < 3_000, "closed after " + millis + " ms");
                assertTrue(silent.closedByPeer());
            }
            // with TLS, a connection that never sends a ClientHello is closed as well; TLS never started, so
            // the reason comes as a plain Error frame
            try (TunnelFixture tls = new TunnelFixture(GatewayConfig.defaults().withLimits(quick));
                 Socket idle = TestServers.connect(tls.address.getPort())) {
                idle.setSoTimeout(5_000);
                String answer = new String(idle.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
                assertTrue(answer.contains("handshake not finished within 300 ms"), answer);
            }
        }
    }
}
