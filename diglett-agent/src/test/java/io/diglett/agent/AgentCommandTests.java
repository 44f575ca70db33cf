package io.diglett.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/** The agent's command line: usage errors, exit codes, and a gateway that refuses it (over real sockets). */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class AgentCommandTests {

    private record Run(int exitCode, String err, String out) {
    }

    private static Run run(String... args) {
        StringWriter err = new StringWriter();
        StringWriter out = new StringWriter();
        CommandLine cli = new CommandLine(new AgentCommand());
        cli.setErr(new PrintWriter(err));
        cli.setOut(new PrintWriter(out));
        int code = cli.execute(args);
        return new Run(code, err.toString(), out.toString());
    }

    @Test
    void wrongArgumentsGiveAOneLineErrorUsageAndExitCode2() {
        Object[][] cases = {
            {new String[] {"-n", "example", "localhost:9000"}, "Missing required option: '--gateway"},
            {new String[] {"-g", "gw", "-n", "Example", "localhost:9000"}, "not a DNS label"},
            {new String[] {"-g", "gw", "-n", "example", "localhost"}, "missing port"},
            {new String[] {"-g", "gw:http", "-n", "example", "localhost:9000"}, "port 'http' is not a number"},
            {new String[] {"-g", "gw1,gw2:x", "-n", "example", "localhost:9000"}, "port 'x' is not a number"},
            {new String[] {"-g", "gw1,,gw2", "-n", "example", "localhost:9000"}, "'gw1,,gw2' has an empty gateway"},
            {new String[] {"-g", "gw", "-n", "example", "--window", "1k", "localhost:9000"}, "must be between"},
            {new String[] {"-g", "gw", "-n", "example", "--bogus", "localhost:9000"}, "Unknown option: '--bogus'"},
            {new String[] {"-g", "gw", "-n", "example", "--admin", "0.0.0.0:0", "localhost:9000"},
                "--admin 0.0.0.0:0 is reachable beyond this host: give it a token"},
        };
        for (Object[] c : cases) {
            Run run = run((String[]) c[0]);
            assertEquals(2, run.exitCode(), String.join(" ", (String[]) c[0]));
            String firstLine = run.err().lines().findFirst().orElse("");
            assertTrue(firstLine.contains((String) c[1]), "first line '" + firstLine + "' should say " + c[1]);
            assertTrue(run.err().contains("Usage: diglett"), "usage follows the error");
        }
    }

    @Test
    void severalGatewaysAreDialledInTheOrderGiven() {
        AgentCommand command = new AgentCommand();
        new CommandLine(command).parseArgs("-g", "gw1.example.com,gw2.example.com:4000", "-n", "example",
                "localhost:9000");
        AgentConfig config = command.agentConfig();
        assertEquals(new io.diglett.common.HostPort("gw1.example.com", 20000), config.gateway());
        assertEquals(java.util.List.of(new io.diglett.common.HostPort("gw1.example.com", 20000),
                new io.diglett.common.HostPort("gw2.example.com", 4000)), config.gateways());
    }

    @Test
    void versionAndHelp() {
        Run version = run("--version");
        assertEquals(0, version.exitCode());
        assertTrue(version.out().startsWith("diglett " + io.diglett.common.Version.release()), version.out());
        Run help = run("--help");
        assertEquals(0, help.exitCode());
        assertTrue(help.out().contains("--gateway") && help.out().contains("DIGLETT_TOKEN"), help.out());
    }

    @Test
    void trustForgetRemovesARecordAndSaysSo(@org.junit.jupiter.api.io.TempDir java.nio.file.Path temp)
            throws Exception {
        java.nio.file.Path file = temp.resolve("known_gateways");
        java.nio.file.Files.writeString(file, "# comment\ngw.example:20000 SHA256:AAAA\n[::1]:7000 ca\n");
        Run forgot = run("trust", "forget", "--known-gateways", file.toString(), "gw.example");
        assertEquals(0, forgot.exitCode(), forgot.err());
        assertTrue(forgot.out().contains("forgot gw.example:20000 (SHA256:AAAA)"), forgot.out());
        assertEquals("# comment\n[::1]:7000 ca\n", java.nio.file.Files.readString(file));

        Run none = run("trust", "forget", "--known-gateways", file.toString(), "gw.example");
        assertEquals(1, none.exitCode());
        assertTrue(none.err().contains("has no record of gw.example:20000"), none.err());
        assertEquals(0, run("trust", "forget", "--known-gateways", file.toString(), "[::1]:7000").exitCode());

        Run missing = run("trust", "forget");
        assertEquals(2, missing.exitCode());
        assertTrue(missing.err().startsWith("Missing required parameter: 'HOST[:PORT]'"), missing.err());
        Run help = run("trust", "forget", "--help");
        assertEquals(0, help.exitCode());
        assertTrue(help.out().startsWith("Usage: diglett trust forget"), help.out());
        assertTrue(run("--help").out().contains("trust"), "the agent's help lists the command");
    }

    /** A fake gateway that answers the handshake and refuses the login (Refuse), as a gateway with a token list would. */
    @Test
    void aRefusedLoginExitsWith1AndDoesNotRetry() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<String> token = CompletableFuture.supplyAsync(() -> {
                try (Socket socket = server.accept()) {
                    DataInputStream in = new DataInputStream(socket.getInputStream());
                    DataOutputStream out = new DataOutputStream(socket.getOutputStream());
                    assertEquals(Protocol.MAGIC, in.readInt());
                    assertEquals(Protocol.VERSION, in.readByte());
                    out.writeInt(Protocol.MAGIC);
                    out.writeByte(Protocol.VERSION);
                    assertEquals(FrameKind.LOGIN.code(), in.readUnsignedByte());
                    assertEquals(0, in.readInt());
                    byte[] sent = new byte[in.readUnsignedShort()];
                    in.readFully(sent);
                    byte[] reason = "login refused: unknown token".getBytes(StandardCharsets.UTF_8);
                    out.writeByte(FrameKind.REFUSE.code());
                    out.writeInt(0);
                    out.writeShort(reason.length);
                    out.write(reason);
                    out.flush();
                    // version 4: the token, then 0x00 and the agent's 16-byte instance id
                    int end = sent.length - io.diglett.protocol.Requests.Login.INSTANCE_BYTES;
                    assertEquals(0, sent[end], "the instance id follows the token");
                    return new String(sent, 0, end, StandardCharsets.UTF_8);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            Run run = run("--plaintext", "-g", "127.0.0.1:" + server.getLocalPort(), "-t", "s3cret", "-n", "example",
                    "127.0.0.1:9");
            assertEquals(1, run.exitCode());
            assertEquals("s3cret", token.get(5, TimeUnit.SECONDS), "the token is sent at login");
            server.setSoTimeout(300);
            try (Socket again = server.accept()) {
                throw new AssertionError("the agent dialed again after a refusal: " + again);
            } catch (java.net.SocketTimeoutException expected) {
                // no second attempt
            }
        }
    }

    private static java.util.List<TunnelSpec> tunnels(String... args) {
        AgentCommand command = new AgentCommand();
        new CommandLine(command).parseArgs(args);
        return command.tunnels();
    }

    @Test
    void theSeedsSingleNameFormAndSeveralNamesWithTheirOwnBackends() {
        assertEquals(java.util.List.of(new TunnelSpec("example", io.diglett.common.HostPort.parse("localhost:9000", -1))),
                tunnels("-g", "gw", "-n", "example", "localhost:9000"));
        assertEquals(java.util.List.of(
                        new TunnelSpec("web", io.diglett.common.HostPort.parse("localhost:8080", -1)),
                        new TunnelSpec("api", io.diglett.common.HostPort.parse("[::1]:9000", -1))),
                tunnels("-g", "gw", "-n", "web=localhost:8080", "-n", "api=[::1]:9000"));
        assertEquals(java.util.List.of(
                        new TunnelSpec("web", io.diglett.common.HostPort.parse("localhost:8080", -1)),
                        new TunnelSpec("rest", io.diglett.common.HostPort.parse("localhost:7000", -1))),
                tunnels("-g", "gw", "-n", "web=localhost:8080", "-n", "rest", "localhost:7000"));
    }

    @Test
    void perNameOptionsOverrideTheGlobalProxyAndPassthroughFlags() {
        io.diglett.common.HostPort web = io.diglett.common.HostPort.parse("localhost:8080", -1);
        io.diglett.common.HostPort shop = io.diglett.common.HostPort.parse("localhost:8443", -1);
        assertEquals(java.util.List.of(
                        new TunnelSpec("web", web, TunnelSpec.ProxyProtocol.V2, false),
                        new TunnelSpec("shop", shop, TunnelSpec.ProxyProtocol.V1, true)),
                tunnels("-g", "gw", "--proxy-protocol", "v2", "-n", "web=localhost:8080",
                        "-n", "shop=localhost:8443,proxy=v1,tls=passthrough"));
        assertEquals(java.util.List.of(new TunnelSpec("example", io.diglett.common.HostPort.parse("localhost:9000",
                        -1), TunnelSpec.ProxyProtocol.NONE, true)),
                tunnels("-g", "gw", "--tls-passthrough", "-n", "example", "localhost:9000"));
    }

    /** diglett hash-password: the token file's form of a basic-auth user, the password read from standard input. */
    @Test
    void hashPasswordPrintsWhatTheTokenFileTakes() throws Exception {
        HashPasswordCommand command = new HashPasswordCommand();
        command.console = null;
        command.input = new java.io.ByteArrayInputStream("correct horse\n".getBytes(StandardCharsets.UTF_8));
        StringWriter out = new StringWriter();
        assertEquals(0, new CommandLine(command).setOut(new PrintWriter(out)).execute("ops"));
        io.diglett.protocol.Policy policy = io.diglett.protocol.Policy.parse("basic-auth " + out.toString().strip());
        assertEquals("ops", policy.basicAuth().get(0).user());
        assertTrue(policy.basicAuth().get(0).matches("correct horse"));
        assertTrue(!out.toString().contains("correct horse"), "never the password");
        StringWriter help = new StringWriter();
        assertEquals(0, new CommandLine(new AgentCommand()).setOut(new PrintWriter(help)).execute("hash-password",
                "--help"));
        assertTrue(help.toString().contains("token file"), help.toString());
    }

    /** Login flags agent-wide, and per name in -n (a name adds its accounts to the agent-wide OpenID issuer). */
    @Test
    void loginFlagsBecomeEachNamesPolicy() {
        java.util.List<TunnelSpec> specs = tunnels("-g", "gw", "--oidc-issuer", "https://id.example.com",
                "--oidc-client-id", "web", "--oidc-client-secret", "s3cret", "--oidc-allow", "@example.com",
                "--response-header", "X-Frame-Options: DENY",
                "-n", "web=localhost:8080", "-n", "ops=localhost:9000,oidc-allow=root@ops.example");
        io.diglett.protocol.Policy web = specs.get(0).policy();
        assertEquals(java.util.List.of("@example.com"), web.oidc().allow());
        assertEquals("s3cret", web.oidc().clientSecret());
        assertEquals("X-Frame-Options", web.setResponseHeaders().get(0).name());
        assertEquals(java.util.List.of("@example.com", "root@ops.example"), specs.get(1).policy().oidc().allow());
        io.diglett.protocol.Policy api = tunnels("-g", "gw", "-n",
                "api=localhost:8080,jwt-jwks=https://id.example.com/jwks,jwt-audience=api").get(0).policy();
        assertEquals(new io.diglett.protocol.Policy.Jwt("https://id.example.com/jwks", null, "api"), api.jwt());
        IllegalArgumentException two = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> tunnels("-g", "gw", "--jwt-jwks", "https://id.example.com/jwks", "--basic-auth", "a:b", "-n",
                        "api", "localhost:1"));
        assertTrue(two.getMessage().contains("one way to log in"), two.getMessage());
        CommandLine.ParameterException secret = org.junit.jupiter.api.Assertions.assertThrows(
                CommandLine.ParameterException.class, () -> tunnels("-g", "gw", "-n",
                        "api=localhost:1,oidc-client-secret=hunter2,bogus=1"));
        assertTrue(!secret.getMessage().contains("hunter2"), "a usage error never repeats the secret: "
                + secret.getMessage());
    }

    @Test
    void rawOnAsksForARawPortPerNameOrForAllWithTheFlag() {
        io.diglett.common.HostPort web = io.diglett.common.HostPort.parse("localhost:8080", -1);
        io.diglett.common.HostPort db = io.diglett.common.HostPort.parse("localhost:5432", -1);
        java.util.List<TunnelSpec> perName = tunnels("-g", "gw", "-n", "web=localhost:8080",
                "-n", "db=localhost:5432,raw=on,proxy=v2");
        assertEquals(java.util.List.of(new TunnelSpec("web", web),
                new TunnelSpec("db", db, TunnelSpec.ProxyProtocol.V2, false, true)), perName);
        assertEquals(io.diglett.protocol.Requests.FLAG_RAW_PORT, perName.get(1).registerFlags());
        assertEquals(0, perName.get(0).registerFlags(), "the Register of earlier releases: no flags");
        assertEquals(java.util.List.of(new TunnelSpec("web", web).withRawPort(true), new TunnelSpec("db", db)),
                tunnels("-g", "gw", "--raw-port", "-n", "web=localhost:8080", "-n", "db=localhost:5432,raw=off"));
    }

    @Test
    void inconsistentNamesAndBackendsAreUsageErrors() {
        Object[][] cases = {
            {new String[] {"-g", "gw", "-n", "a=localhost:1,proxy=v3"}, "expected v1 or v2"},
            {new String[] {"-g", "gw", "-n", "a=localhost:1,fast"}, "unknown option 'fast'"},
            {new String[] {"-g", "gw", "-n", "a=localhost:1,raw=yes"}, "unknown option 'raw=yes'"},
            {new String[] {"-g", "gw", "--proxy-protocol", "v9", "-n", "a=localhost:1"}, "expected v1 or v2"},
            {new String[] {"-g", "gw", "-n", "lonely"}, "name 'lonely' has no backend"},
            {new String[] {"-g", "gw", "-n", "a=localhost:1", "localhost:2"}, "is not used"},
            {new String[] {"-g", "gw", "-n", "a=localhost:1", "-n", "a=localhost:2"}, "name 'a' is given twice"},
            {new String[] {"-g", "gw", "-n", "a=nowhere", "localhost:2"}, "missing port"},
        };
        for (Object[] c : cases) {
            Run run = run((String[]) c[0]);
            assertEquals(2, run.exitCode(), String.join(" ", (String[]) c[0]));
            assertTrue(run.err().contains((String) c[1]), run.err());
        }
    }
}
