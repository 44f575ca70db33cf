package io.diglett.server;

import io.diglett.server.auth.Authenticator;
import io.diglett.server.cli.ServerCommand;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.TlsSettings;
import io.diglett.server.registrar.Registrar;
import io.diglett.server.registrar.RegistrarProvider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import io.diglett.server.registrar.Registrar.Exposure;
import io.diglett.server.TestServers.Backend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;

/**
 * The pluggable "registrar" step: exec and traefik, a registrar that fails leaving nothing exposed, and the order
 * of one name's registrations when it moves from link to link.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RegistrarTests {

    @TempDir
    Path temp;

    @Test
    void execRunsTheOperatorsCommandOnRegisterAndUnregister() throws Exception {
        Path record = temp.resolve("record");
        Registrar exec = RegistrarProvider.find("exec").create(Map.of("command",
                "echo \"$ACTION $NAME $PORT\" >> " + record));
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults(), Authenticator.open(), exec)) {
            var agent = fixture.agent(fixture.agentConfig("scripted", echo.port()));
            int port = agent.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
            assertEquals(List.of("register scripted " + port), Files.readAllLines(record));
            agent.close();
            TunnelTests.waitFor(() -> lines(record).size() == 2, "the unregister command ran");
            assertEquals("unregister scripted " + port, lines(record).get(1));
        }
    }

    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file);
        } catch (IOException e) {
            return List.of();
        }
    }

    @Test
    void aFailingRegistrarFailsTheRegistrationAndLeavesNothingExposed() throws Exception {
        Registrar failing = RegistrarProvider.find("exec").create(Map.of("command",
                "if [ \"$ACTION\" = register ]; then echo 'proxy is down' >&2; exit 3; fi"));
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withTls(TlsSettings.plain()),
                Authenticator.open(), failing);
             RawAgent agent = new RawAgent(fixture.address.getPort()).loggedIn()) {
            agent.send(FrameKind.REGISTER, 1, "exposed");
            RawAgent.RawFrame ok = agent.read();
            assertEquals(FrameKind.OK.code(), ok.kind());
            int port = new java.io.DataInputStream(new java.io.ByteArrayInputStream(ok.payload())).readUnsignedShort();
            agent.send(FrameKind.FINISH_REGISTER, 0, new byte[0]);
            RawAgent.RawFrame error = agent.read();
            assertEquals(FrameKind.ERROR.code(), error.kind(), "a connection error: the agent may try again");
            assertEquals(Protocol.CONNECTION_ID, error.id());
            assertEquals("exposing 'exposed' failed: the registrar refused it", error.text(),
                    "what the command printed stays in the gateway's log");
            assertTrue(agent.closedByPeer());
            TunnelTests.waitFor(() -> fixture.gateway.publicPort("exposed").isEmpty(), "the name is released");
            TestServers.awaitClosed(port, "the port is closed");
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void traefikGetsOneFileProviderFilePerNameInItsSchema() throws Exception {
        Path dynamic = temp.resolve("traefik/dynamic");
        Registrar traefik = RegistrarProvider.find("traefik").create(Map.of("dir", dynamic.toString(),
                "domain", "gateway.test", "entrypoints", "websecure"));
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults(), Authenticator.open(), traefik)) {
            var agent = fixture.agent(fixture.agentConfig("blog", echo.port()));
            int port = agent.start().get(10, TimeUnit.SECONDS).get(0).publicPort();
            Path file = dynamic.resolve("diglett-blog.yml");
            TunnelTests.waitFor(() -> Files.exists(file), "the file is written");
            Map<String, Object> config = new Yaml().load(Files.readString(file));
            Map<String, Object> http = (Map<String, Object>) config.get("http");
            Map<String, Object> router = (Map<String, Object>) ((Map<String, Object>) http.get("routers"))
                    .get("diglett-blog");
            assertEquals("Host(`blog.gateway.test`)", router.get("rule"));
            assertEquals("diglett-blog", router.get("service"));
            assertEquals(List.of("websecure"), router.get("entryPoints"));
            Map<String, Object> service = (Map<String, Object>) ((Map<String, Object>) http.get("services"))
                    .get("diglett-blog");
            List<Map<String, Object>> servers = (List<Map<String, Object>>) ((Map<String, Object>) service
                    .get("loadBalancer")).get("servers");
            assertEquals(List.of(Map.of("url", "http://127.0.0.1:" + port)), servers);
            agent.close();
            TunnelTests.waitFor(() -> !Files.exists(file), "the file is removed with the tunnel");
            assertFalse(Files.list(dynamic).anyMatch(p -> p.getFileName().toString().endsWith(".tmp")));
        }
    }

    /**
     * An operator's own {@code diglett-NAME.yml} in Traefik's directory: the agent is refused for good with a
     * reason that names the name and not the directory (it stops instead of trying again), the file stays as it
     * was, and a temporary failure (a directory the gateway cannot write) tells the agent nothing of the path.
     */
    @Test
    void traefikRefusesANameWhoseFileIsTheOperatorsAndNeverRevealsItsDirectory() throws Exception {
        Path dynamic = Files.createDirectories(temp.resolve("traefik/dynamic"));
        Path file = dynamic.resolve("diglett-blog.yml");
        String operators = "# the operator's blog\nhttp: {}\n";
        Files.writeString(file, operators);
        Registrar traefik = RegistrarProvider.find("traefik").create(Map.of("dir", dynamic.toString(),
                "domain", "gateway.test"));
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults(), Authenticator.open(), traefik)) {
            var agent = fixture.agent(fixture.agentConfig("blog", echo.port()));
            var failure = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> agent.start().get(10, TimeUnit.SECONDS));
            assertTrue(failure.getCause() instanceof io.diglett.agent.RejectedException, "rejected: no retry");
            assertEquals("'blog.gateway.test' is a site of the operator's own configuration",
                    failure.getCause().getMessage());
            agent.close();
            TunnelTests.waitFor(() -> fixture.gateway.publicPort("blog").isEmpty(), "the name is released");
            assertEquals(operators, Files.readString(file));
        }
        Path notADirectory = Files.writeString(temp.resolve("a-file"), "");
        Registrar broken = RegistrarProvider.find("traefik").create(Map.of("dir", notADirectory.toString(),
                "domain", "gateway.test"));
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults().withTls(TlsSettings.plain()),
                Authenticator.open(), broken);
             RawAgent agent = new RawAgent(fixture.address.getPort()).loggedIn()) {
            agent.register(1, "web");
            agent.send(FrameKind.FINISH_REGISTER, 0, new byte[0]);
            RawAgent.RawFrame error = agent.read();
            assertEquals(FrameKind.ERROR.code(), error.kind(), "temporary: " + error.text());
            assertEquals(Protocol.CONNECTION_ID, error.id());
            assertEquals("exposing 'web' failed: the registrar failed", error.text());
        }
    }

    /**
     * The hook sees PATH, its four variables and what the operator passes by name, never the rest of the
     * gateway's environment (here HOME and USER stand for the secrets a gateway may be started with).
     */
    @Test
    void execHooksGetAMinimalEnvironmentAndTheVariablesNamedInEnv() throws Exception {
        Path seen = temp.resolve("env");
        try (Registrar exec = RegistrarProvider.find("exec").create(Map.of("command",
                "env | cut -d= -f1 | sort > " + seen))) {
            exec.register(new Exposure("envy", 1001, "a-link", null)).toCompletableFuture().get(10, TimeUnit.SECONDS);
            List<String> names = lines(seen).stream().filter(name -> !name.equals("PWD")).toList(); // sh's own
            assertEquals(List.of("ACTION", "AGENT", "NAME", "PATH", "PORT"), names);
        }
        String home = System.getenv("HOME");
        try (Registrar exec = RegistrarProvider.find("exec").create(Map.of("command",
                "echo \"$HOME\" > " + seen, "env", " HOME , "))) {
            exec.register(new Exposure("envy", 1001, "a-link", null)).toCompletableFuture().get(10, TimeUnit.SECONDS);
            assertEquals(List.of(String.valueOf(home)), lines(seen));
        }
        var bad = assertThrows(IllegalArgumentException.class, () -> RegistrarProvider.find("exec")
                .create(Map.of("command", "true", "env", "NAME")));
        assertEquals("the exec registrar sets NAME itself; env cannot name it", bad.getMessage());
    }

    @Test
    void execRunsOneNamesCommandsInOrderAndNeverUndoesANewerRegistration() throws Exception {
        Path record = temp.resolve("record");
        try (Registrar exec = RegistrarProvider.find("exec").create(Map.of("command",
                "echo \"$ACTION $NAME $PORT $AGENT\" >> " + record))) {
            Exposure old = new Exposure("moving", 1001, "old-link", null);
            exec.register(old).toCompletableFuture().get(10, TimeUnit.SECONDS);
            // The name's new link registers it before its old link's unregister is asked for.
            Exposure fresh = new Exposure("moving", 1001, "new-link", null);
            var registered = exec.register(fresh).toCompletableFuture();
            exec.unregister(old);
            // Then a quick reconnect: unregister and register again without waiting.
            exec.unregister(fresh);
            Exposure third = new Exposure("moving", 1002, "third-link", null);
            var again = exec.register(third).toCompletableFuture();
            registered.get(10, TimeUnit.SECONDS);
            again.get(10, TimeUnit.SECONDS);
            assertEquals(List.of("register moving 1001 old-link", "register moving 1001 new-link",
                    "unregister moving 1001 new-link", "register moving 1002 third-link"), lines(record));
        }
    }

    /**
     * A slow hook (1 s per name) does not queue 14 agents behind one another: one at a time they would need 14 s,
     * past the 10 s handshake timeout; run 8 at once they all register in about 2 s.
     */
    @Test
    void aSlowExecHookServesParallelRegistrationsAtOnce() throws Exception {
        Path record = temp.resolve("record");
        Registrar exec = RegistrarProvider.find("exec").create(Map.of("command",
                "[ \"$ACTION\" = register ] && sleep 1; echo \"$ACTION $NAME\" >> " + record));
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults(), Authenticator.open(), exec)) {
            List<java.util.concurrent.CompletableFuture<?>> started = new java.util.ArrayList<>();
            for (int i = 0; i < 14; i++) {
                started.add(fixture.agent(fixture.agentConfig("slow-" + i, echo.port())).start());
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10); // the handshake timeout
            for (var agent : started) {
                // one timed out would reconnect and try again: later, and with a second register line
                agent.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            }
            assertEquals(14, lines(record).size(), "one register each: " + lines(record));
        }
    }

    /**
     * The case of issue 15: a gateway killed with SIGKILL leaves {@code diglett-victim.yml} behind, routing the
     * victim's host to its port; with a one-port range the next gateway gives that port to another tenant's name.
     * The new gateway removes the files of its own it finds (not the operator's) before any name registers; a
     * gateway stopped with SIGTERM withdraws its names before it exits.
     */
    @Test
    void aKilledGatewaysTraefikFilesAreGoneBeforeItsPortGoesToAnotherName() throws Exception {
        Path dynamic = Files.createDirectories(temp.resolve("dynamic"));
        Path operators = Files.writeString(dynamic.resolve("diglett-mine.yml"), "# the operator's own\nhttp: {}\n");
        int port = TestServers.refusedPort();
        String[] args = {"-l", "127.0.0.1:0", "--bind", "127.0.0.1", "--plaintext", "--port-range",
            Integer.toString(port), "--registrar", "traefik", "--registrar-option", "dir=" + dynamic,
            "--registrar-option", "domain=gw.test"};
        Path victim = dynamic.resolve("diglett-victim.yml");
        try (ChildProcess gateway = ChildProcess.start(ServerCommand.class, args)) {
            try (RawAgent agent = new RawAgent(agentPort(gateway)).loggedIn()) {
                assertEquals(port, agent.register(1, "victim"));
                agent.finish();
                assertTrue(Files.readString(victim).contains("http://127.0.0.1:" + port));
                gateway.kill();
            }
        }
        assertTrue(Files.exists(victim), "SIGKILL: nothing was withdrawn");

        Path other = dynamic.resolve("diglett-other.yml");
        try (ChildProcess gateway = ChildProcess.start(ServerCommand.class, args);
             RawAgent agent = new RawAgent(agentPort(gateway)).loggedIn()) {
            assertEquals(port, agent.register(1, "other"), "the only port of the range");
            agent.finish(); // written after the files left behind were removed
            assertFalse(Files.exists(victim), "victim.gw.test no longer routes to the other tenant's port");
            assertTrue(Files.readString(other).contains("http://127.0.0.1:" + port));
            assertTrue(Files.exists(operators), "a file without diglett's mark is the operator's");
            gateway.await("removed .*diglett-victim.yml, left by an earlier run: 'victim' is not live", 10_000);

            assertEquals(0, gateway.terminate(30_000));
            assertFalse(Files.exists(other), "SIGTERM: the names are withdrawn before the gateway exits");
        }
    }

    /**
     * A gateway stopping closes, past its drain timeout, the links whose agents do not leave; their names are
     * withdrawn all the same before the registrar closes (it waits, with a bound, for the unregisters asked for).
     */
    @Test
    void aGatewayStoppingPastItsDrainTimeoutStillWithdrawsEveryName() throws Exception {
        Path dynamic = temp.resolve("dynamic");
        Registrar traefik = RegistrarProvider.find("traefik").create(Map.of("dir", dynamic.toString(),
                "domain", "gw.test"));
        GatewayConfig config = GatewayConfig.defaults().withTls(TlsSettings.plain())
                .withLimits(GatewayConfig.Limits.defaults().withDrainTimeout(java.time.Duration.ZERO));
        try (TunnelFixture fixture = new TunnelFixture(config, Authenticator.open(), traefik);
             RawAgent agent = new RawAgent(fixture.address.getPort()).loggedIn()) {
            for (int i = 1; i <= 16; i++) { // the most one agent may have
                agent.register(i, "stuck-" + i);
            }
            agent.finish();
            try (var written = Files.list(dynamic)) {
                assertEquals(16, written.count());
            }
            fixture.gateway.close(); // the agent never answers the Terminate (the fixture closes it again: a no-op)
            try (var left = Files.list(dynamic)) {
                assertEquals(List.of(), left.map(Path::getFileName).map(Path::toString).toList());
            }
        }
    }

    private static int agentPort(ChildProcess gateway) throws InterruptedException {
        return Integer.parseInt(gateway.await("listening for agents on 127\\.0\\.0\\.1:(\\d+)", 30_000).group(1));
    }

    @Test
    void traefikKeepsTheFileOfANewerRegistrationAndWritesInOrder() throws Exception {
        Path dynamic = temp.resolve("traefik/dynamic");
        Path file = dynamic.resolve("diglett-moving.yml");
        try (Registrar traefik = RegistrarProvider.find("traefik").create(Map.of("dir", dynamic.toString(),
                "domain", "gateway.test"))) {
            Exposure old = new Exposure("moving", 2001, "old-link", null);
            traefik.register(old).toCompletableFuture().get(10, TimeUnit.SECONDS);
            Exposure fresh = new Exposure("moving", 2002, "new-link", null);
            var registered = traefik.register(fresh).toCompletableFuture();
            traefik.unregister(old); // late: the name's new link registered it already
            registered.get(10, TimeUnit.SECONDS);
            afterEverythingAskedSoFar(traefik);
            assertTrue(Files.readString(file).contains("http://127.0.0.1:2002"), "the new link's file stays");

            for (int port = 2003; port < 2053; port++) { // quick reconnects, none waited for
                traefik.unregister(fresh);
                fresh = new Exposure("moving", port, "link-" + port, null);
                traefik.register(fresh);
            }
            afterEverythingAskedSoFar(traefik);
            assertTrue(Files.readString(file).contains("http://127.0.0.1:2052"), "the last link's file");
            traefik.unregister(fresh);
            afterEverythingAskedSoFar(traefik);
            assertFalse(Files.exists(file), "removed with the last link");
        }
    }

    /** Waits until {@code registrar} has done what it was asked so far (it works in order). */
    private static void afterEverythingAskedSoFar(Registrar registrar) throws Exception {
        Exposure barrier = new Exposure("barrier", 1, "test", null);
        registrar.register(barrier).toCompletableFuture().get(10, TimeUnit.SECONDS);
        registrar.unregister(barrier);
    }

    @Test
    void unknownRegistrarsAndMissingOptionsAreClearErrors() {
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> RegistrarProvider.find("nginx"));
        assertEquals("no registrar named 'nginx' (available: log, exec, traefik, caddy)", unknown.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> RegistrarProvider.find("traefik").create(Map.of("dir", "/tmp")));
        assertEquals("the traefik registrar needs --registrar-option domain=...", missing.getMessage());
    }
}
