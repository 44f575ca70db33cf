package io.diglett.server.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.HostPort;
import io.diglett.common.testing.CliRun.Result;
import io.diglett.common.testing.CliRun;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The gateway's --config file and DIGLETT_* variables, its completion script and its man page. */
class ServerConfigFileTests {

    @TempDir
    Path temp;

    private static ServerCommand parse(Map<String, String> env, String... args) {
        return CliRun.parse(new ServerCommand(), env, args);
    }

    @Test
    void theClusterOptionsComeFromTheFileToo() throws Exception {
        java.nio.file.Files.writeString(temp.resolve("secret"), "a shared secret of the cluster\n");
        String file = CliRun.write(temp.resolve("cluster.yaml"), """
                cluster-etcd: [http://10.0.0.1:2379, "http://10.0.0.2:2379,http://10.0.0.3:2379"]
                node-name: gw1
                node-listen: 10.0.0.11:20001
                cluster-secret-file: %s
                lease-ttl: 7
                """.formatted(temp.resolve("secret")));
        io.diglett.server.config.ClusterSettings settings = parse(Map.of(), "--config", file).cluster.settings();
        assertEquals(java.util.List.of(java.net.URI.create("http://10.0.0.1:2379"),
                java.net.URI.create("http://10.0.0.2:2379"), java.net.URI.create("http://10.0.0.3:2379")),
                settings.etcd());
        assertEquals("gw1", settings.nodeName());
        assertEquals(new HostPort("10.0.0.11", 20001), settings.nodeListen());
        assertEquals("a shared secret of the cluster", new String(settings.secret(),
                java.nio.charset.StandardCharsets.UTF_8), "the file's line, without its newline");
        assertEquals(Duration.ofSeconds(7), settings.leaseTtl());
        assertEquals("gw2", parse(Map.of("DIGLETT_NODE_NAME", "gw2"), "--config", file).cluster.settings().nodeName());
        assertEquals(null, parse(Map.of()).cluster.settings(), "no cluster: a single gateway");
    }

    @Test
    void flagsBeatTheEnvironmentWhichBeatsTheFileWhichBeatsTheDefault() throws Exception {
        String file = CliRun.write(temp.resolve("gateway.yaml"), """
                listen: 127.0.0.1:1111
                max-agents: 5
                heartbeat: 0.5
                port-grace: 30
                auth-file: /etc/diglett/tokens
                registrar: traefik
                registrar-option: {dir: /srv/traefik, entrypoints: websecure}
                plaintext: true
                debug: true
                """);
        Map<String, String> env = Map.of("DIGLETT_LISTEN", "127.0.0.1:2222", "DIGLETT_MAX_AGENTS", "6");
        assertEquals(new HostPort("127.0.0.1", 3333), parse(env, "--config", file, "-l", "127.0.0.1:3333").listen);
        assertEquals(new HostPort("127.0.0.1", 2222), parse(env, "--config", file).listen);
        ServerCommand fromFile = parse(Map.of(), "--config", file);
        assertEquals(new HostPort("127.0.0.1", 1111), fromFile.listen);
        assertEquals(new HostPort("0.0.0.0", 20000), parse(Map.of()).listen);
        assertEquals(6, parse(env, "--config", file).maxAgents);
        assertEquals(7, parse(env, "--config", file, "--max-agents", "7").maxAgents);
        assertEquals(5, fromFile.limits().maxAgents());
        assertEquals(Duration.ofMillis(500), fromFile.limits().heartbeat());
        assertEquals(Duration.ofSeconds(30), fromFile.portGrace());
        assertEquals(Duration.ofMinutes(5), parse(Map.of()).portGrace());
        assertEquals(Path.of("/etc/diglett/tokens"), fromFile.authFile);
        assertEquals("traefik", fromFile.registrarName);
        assertEquals(Map.of("dir", "/srv/traefik", "entrypoints", "websecure"), fromFile.registrarOptions);
        assertEquals(Map.of("dir", "/elsewhere"),
                parse(Map.of(), "--config", file, "--registrar-option", "dir=/elsewhere").registrarOptions);
        assertTrue(fromFile.plaintext.enabled() && fromFile.debug.verbosity() == 1);
        assertEquals(Map.of("dir", "/a", "domain", "b.test"),
                parse(Map.of("DIGLETT_REGISTRAR_OPTION", "dir=/a\ndomain=b.test")).registrarOptions);
    }

    @Test
    void thePreLoginLimitsComeFromTheFileTheEnvironmentAndTheCommandLineWithTheirDefaults() throws Exception {
        assertEquals(io.diglett.server.config.PreLoginLimits.defaults(), parse(Map.of()).gatewayConfig().preLogin());
        String file = CliRun.write(temp.resolve("gateway.yaml"), """
                max-pending-logins: 64
                max-pending-logins-per-ip: 4
                first-byte-timeout: 1.5
                login-timeout: 4
                """);
        io.diglett.server.config.PreLoginLimits limits = parse(Map.of("DIGLETT_LOGIN_TIMEOUT", "6"), "--config", file,
                "--max-pending-logins-per-ip", "8").gatewayConfig().preLogin();
        assertEquals(new io.diglett.server.config.PreLoginLimits(64, 8, Duration.ofMillis(1_500),
                Duration.ofSeconds(6)), limits);
    }

    @Test
    void theStateDirectoryFollowsHomeAndXdgStateHomeOfTheEnvironmentGiven() {
        assertEquals(Path.of("/somewhere/.local/state/diglett"),
                parse(Map.of("HOME", "/somewhere")).gatewayConfig().tls().stateDir());
        assertEquals(Path.of("/xdg/diglett"),
                parse(Map.of("HOME", "/somewhere", "XDG_STATE_HOME", "/xdg")).gatewayConfig().tls().stateDir());
    }

    @Test
    void anUnknownKeyIsAUsageErrorNamingItAndTheFile() throws Exception {
        String file = CliRun.write(temp.resolve("gateway.yaml"), "listen: 127.0.0.1:0\nmax-agent: 3\n");
        Result run = CliRun.run(new ServerCommand(), Map.of(), "--config", file);
        assertEquals(2, run.exitCode());
        assertTrue(run.err().startsWith("config file " + file + ": unknown key 'max-agent' (keys are"), run.err());
        assertTrue(run.err().contains("max-agents"), "the known keys are listed: " + run.err());
        Result unreadable = CliRun.run(new ServerCommand(), Map.of("DIGLETT_CONFIG", temp.toString()));
        assertEquals(2, unreadable.exitCode());
        assertTrue(unreadable.err().startsWith("cannot read config file " + temp), unreadable.err());
    }

    @Test
    void completionScriptManPageAndEveryRepeatableOptionFromTheFile() throws Exception {
        CliRun.assertRepeatableOptionsSplit(new ServerCommand());
        CliRun.assertCompletion(new ServerCommand(), "--listen", "--auth-file", "--registrar-option", "--config");
        CliRun.assertManPage(new ServerCommand(), "diglett-server - The Diglett gateway", "-l, --listen=HOST:PORT",
                "Where agents dial in (default: 0.0.0.0:20000).", "--registrar-option=KEY=VALUE", "--config=FILE",
                "DIGLETT_AUTH_FILE", "--max-streams-per-agent=N", "wrong arguments");
    }
}
