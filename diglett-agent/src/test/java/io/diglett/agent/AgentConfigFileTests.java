package io.diglett.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.HostPort;
import io.diglett.common.cli.ConfigDefaults;
import io.diglett.common.testing.CliRun.Result;
import io.diglett.common.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent's --config file and DIGLETT_* variables, its completion script and its man page. */
class AgentConfigFileTests {

    @TempDir
    Path temp;

    private static AgentCommand parse(Map<String, String> env, String... args) {
        return CliRun.parse(new AgentCommand(), env, args);
    }

    @Test
    void flagsBeatTheEnvironmentWhichBeatsTheFileWhichBeatsTheDefault() throws Exception {
        String file = CliRun.write(temp.resolve("agent.yaml"), """
                gateway: file.example.com
                name: [web=localhost:8080, api=localhost:9000]
                token: from-file
                window: 512k
                plaintext: true
                heartbeat: 2.5
                """);
        Map<String, String> env = Map.of("DIGLETT_GATEWAY", "env.example.com:4000", "DIGLETT_TOKEN", "from-env");
        assertEquals(new HostPort("flag.example.com", 20000),
                parse(env, "--config", file, "-g", "flag.example.com").gateway.first());
        assertEquals(new HostPort("env.example.com", 4000), parse(env, "--config", file).gateway.first());
        AgentCommand fromFile = parse(Map.of(), "--config", file);
        assertEquals(new HostPort("file.example.com", 20000), fromFile.gateway.first());
        assertEquals("from-file", fromFile.token);
        assertEquals("from-env", parse(env, "--config", file).token);
        assertEquals("from-flag", parse(env, "--config", file, "-t", "from-flag").token);
        assertEquals(512 * 1024, fromFile.window.bytes());
        assertEquals(java.time.Duration.ofMillis(2500), fromFile.heartbeat.interval());
        assertEquals(256 * 1024, parse(Map.of(), "-g", "gw", "-n", "x", "localhost:1").window.bytes(), "the default");
        assertTrue(fromFile.plaintext.enabled());
        assertTrue(parse(Map.of(), "--config", file, "--plaintext").plaintext.enabled(), "the flag keeps the file's true");
        assertFalse(parse(Map.of("DIGLETT_PLAINTEXT", "false"), "--config", file).plaintext.enabled());

        List<TunnelSpec> tunnels = fromFile.tunnels();
        assertEquals(List.of("web", "api"), tunnels.stream().map(TunnelSpec::name).toList());
        assertEquals(new HostPort("localhost", 9000), tunnels.get(1).backend());
        assertEquals(List.of("solo"), parse(Map.of(), "--config", file, "-n", "solo", "localhost:1").tunnels()
                .stream().map(TunnelSpec::name).toList(), "-n on the command line replaces the file's names");
    }

    /** The visitor policy's options in the YAML config, agent-wide and per name. */
    @Test
    void loginAndHeaderRulesFromTheFile() throws Exception {
        String file = CliRun.write(temp.resolve("policy.yaml"), """
                gateway: gw.example.com
                name:
                  - web=localhost:8080
                  - "ops=localhost:9000,oidc-allow=root@ops.example"
                oidc-issuer: https://login.example.com
                oidc-client-id: diglett
                oidc-client-secret: s3cret
                oidc-allow: ["@example.com", bob@partner.example]
                response-header: ["X-Frame-Options: DENY"]
                allow-cidr: [10.0.0.0/8]
                """);
        List<TunnelSpec> tunnels = parse(Map.of(), "--config", file).tunnels();
        io.diglett.protocol.Policy web = tunnels.get(0).policy();
        assertEquals("https://login.example.com", web.oidc().issuer());
        assertEquals("s3cret", web.oidc().clientSecret());
        assertEquals(List.of("@example.com", "bob@partner.example"), web.oidc().allow());
        assertEquals("DENY", web.setResponseHeaders().get(0).value());
        assertEquals("10.0.0.0/8", web.allow().get(0).toString());
        assertEquals(List.of("@example.com", "bob@partner.example", "root@ops.example"),
                tunnels.get(1).policy().oidc().allow());
    }

    @Test
    void requiredOptionsMayComeFromTheFileOrTheEnvironment() throws Exception {
        String file = CliRun.write(temp.resolve("agent.yaml"), "name: example\nbackend: localhost:9000\n");
        AgentCommand agent = parse(Map.of("DIGLETT_GATEWAY", "gw"), "--config", file);
        assertEquals(new HostPort("localhost", 9000), agent.tunnels().get(0).backend());
        Result missing = CliRun.run(new AgentCommand(), Map.of(), "--config", file);
        assertEquals(2, missing.exitCode());
        assertTrue(missing.err().startsWith("Missing required option: '--gateway"), missing.err());
    }

    @Test
    void theKnownGatewaysFileFollowsHomeAndXdgConfigHomeOfTheEnvironmentGiven() {
        String[] args = {"-g", "gw", "-n", "web", "localhost:1"};
        assertEquals(Path.of("/somewhere/.config/diglett/known_gateways"),
                parse(Map.of("HOME", "/somewhere"), args).agentConfig().trust().knownGateways());
        assertEquals(Path.of("/xdg/diglett/known_gateways"),
                parse(Map.of("HOME", "/somewhere", "XDG_CONFIG_HOME", "/xdg"), args).agentConfig().trust()
                        .knownGateways());
        assertEquals(Path.of("/somewhere/.local/state/diglett"),
                parse(Map.of("HOME", "/somewhere"), args).directories().state(), "where agent.log goes");
    }

    @Test
    void anUnknownKeyIsAUsageErrorNamingItAndTheFile() throws Exception {
        String file = CliRun.write(temp.resolve("agent.yaml"), "gateway: gw\nnames: [web]\n");
        Result run = CliRun.run(new AgentCommand(), Map.of(), "--config", file);
        assertEquals(2, run.exitCode());
        assertTrue(run.err().contains("config file " + file + ": unknown key 'names'"), run.err());
    }

    @Test
    void aTokenInAReadableFileIsWarnedAbout() throws Exception {
        String file = CliRun.write(temp.resolve("agent.yaml"),
                "gateway: gw\nname: web\nbackend: localhost:1\ntoken: s3cret\n");
        Files.setPosixFilePermissions(Path.of(file), PosixFilePermissions.fromString("rw-r-----"));
        AgentCommand agent = parse(Map.of(), "--config", file);
        List<String> warnings = ConfigDefaults.of(agent.spec).warnings();
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("holds a token but others may read it"), warnings.get(0));
    }

    @Test
    void completionScriptManPageAndEveryRepeatableOptionFromTheFile() throws Exception {
        CliRun.assertRepeatableOptionsSplit(new AgentCommand());
        CliRun.assertCompletion(new AgentCommand(), "--gateway", "--name", "--token", "--config", "--plaintext");
        CliRun.assertManPage(new AgentCommand(), "diglett - Exposes local services", "-g, --gateway=HOST[:PORT]",
                "-n, --name=NAME[=HOST:PORT][,OPTION...]", "--config=FILE", "DIGLETT_TOKEN", "HOST:PORT",
                "--window=BYTES", "Initial per-stream receive window");
    }
}
