package io.diglett.server;

import io.diglett.server.auth.Authenticator;
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
import io.diglett.server.TestServers.Backend;
import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;

/** The pluggable "registrar" step: exec and traefik, and a registrar that fails leaving nothing exposed. */
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
            assertEquals("exposing 'exposed' failed: registrar command exited with 3: proxy is down", error.text());
            assertTrue(agent.closedByPeer());
            TunnelTests.waitFor(() -> fixture.gateway.publicPort("exposed").isEmpty(), "the name is released");
            assertThrows(IOException.class, () -> new Socket("127.0.0.1", port).close(), "the port is closed");
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
