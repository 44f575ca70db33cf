package io.diglett.server.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.testing.CliRun;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/** The gateway's command line: usage errors and a listen address that is taken. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ServerCommandTests {

    @org.junit.jupiter.api.io.TempDir
    java.nio.file.Path temp;

    private static int run(StringWriter err, String... args) {
        CommandLine cli = new CommandLine(new ServerCommand());
        cli.setErr(new PrintWriter(err));
        cli.setOut(new PrintWriter(new StringWriter()));
        return cli.execute(args);
    }

    /**
     * A one-line error naming the problem, then the usage, exit code 2. Cases that would start a gateway if the
     * check were missing listen on 127.0.0.1 port 0 without TLS, so a regression cannot take a fixed port.
     */
    @Test
    void wrongArgumentsExitWith2() {
        String local = "127.0.0.1:0";
        Object[][] cases = {
            {new String[] {"--port-range", "40000-30000"}, "40000-30000"},
            {new String[] {"--port-range", "abc"}, "abc"},
            {new String[] {"-l", "0.0.0.0:99999"}, "port 99999 is out of range"},
            {new String[] {"--window", "12"}, "--window"},
            {new String[] {"--max-streams-per-agent", "0"}, "'0' must be at least 1, or 'auto'"},
            {new String[] {"--max-names-per-agent", "0"}, "limits must be at least 1"},
            {new String[] {"--qqq"}, "Unknown option: '--qqq'"},
            // a bare host takes the default port, but it must resolve, and to an address of this machine
            {new String[] {"--plaintext", "-l", "nope"}, "--listen nope: not an IP address or a known host name"},
            {new String[] {"--plaintext", "-l", "192.0.2.1:0"}, "--listen 192.0.2.1:0: cannot listen on 192.0.2.1"},
            {new String[] {"--plaintext", "-l", local, "--bind", "1.2.3.4.5"},
                "--bind 1.2.3.4.5: not an IP address or a known host name"},
            {new String[] {"--plaintext", "-l", local, "--bind", "192.0.2.1"}, "--bind 192.0.2.1: cannot listen on"},
            {new String[] {"--plaintext", "-l", local, "--domain", "example.com", "--http", "nope:0"},
                "--http nope:0: not an IP address"},
            {new String[] {"--plaintext", "-l", local, "--tls-key", "x"},
                "--plaintext cannot be combined with --tls-key"},
            {new String[] {"--plaintext", "-l", local, "--tls-cert", "x", "--tls-key", "y"},
                "--plaintext cannot be combined with --tls-cert or --tls-key"},
            {new String[] {"--plaintext", "-l", local, "--state-dir", "x"},
                "--plaintext cannot be combined with --state-dir"},
            {new String[] {"--plaintext", "-l", local, "--port-grace", "-1"}, "--port-grace must not be negative"},
            {new String[] {"--plaintext", "-l", local, "--reserved-names", "www,Api"},
                "reserved name 'Api' is not a DNS label"},
            {new String[] {"--plaintext", "-l", local, "--max-connections-per-ip", "-1"},
                "--max-connections-per-ip must not be negative"},
            {new String[] {"--plaintext", "-l", local, "--tcp-idle-timeout", "-5"},
                "--tcp-idle-timeout must not be negative"},
            {new String[] {"--plaintext", "-l", local, "--accept-proxy-from", "lb.example"},
                "--accept-proxy-from 'lb.example' is not an address or CIDR block"},
            {new String[] {"--plaintext", "-l", local, "--accept-proxy-from", "10.0.0.0/33"},
                "--accept-proxy-from '10.0.0.0/33': the prefix length must be 0-32"},
            {new String[] {"--plaintext", "-l", local, "--client-ip-header", "X Bad"},
                "--client-ip-header 'X Bad' is not a header name"},
            {new String[] {"--plaintext", "-l", local, "--node-name", "a"},
                "--node-name, --node-listen, --cluster-secret-file and the --etcd-* options need --cluster-etcd"},
            {new String[] {"--plaintext", "-l", local, "--cluster-etcd", "ftp://127.0.0.1:2379"},
                "--cluster-etcd ftp://127.0.0.1:2379: expected http://HOST:PORT or https://HOST:PORT"},
            {new String[] {"--plaintext", "-l", local, "--cluster-etcd", "http://127.0.0.1:2379", "--node-name", "a"},
                "cluster mode needs --port-range"},
            {new String[] {"--plaintext", "-l", local, "--cluster-etcd", "http://127.0.0.1:2379", "--node-name", "-a"},
                "a node name is 1 to 63 letters, digits"},
            {new String[] {"--plaintext", "-l", local, "--cluster-etcd", "http://127.0.0.1:2379", "--node-name", "a",
                "--lease-ttl", "1"}, "--lease-ttl must be between 2 and 3600 seconds"},
        };
        for (Object[] c : cases) {
            String[] args = (String[]) c[0];
            StringWriter err = new StringWriter();
            assertEquals(2, run(err, args), String.join(" ", args) + ": " + err);
            List<String> lines = err.toString().lines().toList();
            assertTrue(lines.size() > 1 && lines.get(0).contains((String) c[1]),
                    String.join(" ", args) + ": the first line should say " + c[1] + ":\n" + err);
            assertTrue(lines.get(1).startsWith("Usage: diglett-server"), "one line, then the usage:\n" + err);
            assertTrue(!err.toString().contains("null"), err.toString());
        }
    }

    /**
     * --client-ip-header adds to the default list ('none' leaves the default list out); --accept-proxy-from takes
     * CIDR blocks.
     */
    @Test
    void forwardingOptionsReachTheConfiguration() {
        ServerCommand defaults = new ServerCommand();
        new CommandLine(defaults).parseArgs();
        assertEquals(io.diglett.server.config.ForwardingSettings.DEFAULT_CLIENT_IP_HEADERS,
                defaults.forwarding().clientIpHeaders());
        assertTrue(defaults.forwarding().acceptProxyFrom().isEmpty());

        ServerCommand given = new ServerCommand();
        new CommandLine(given).parseArgs("--client-ip-header", "X-Mine", "--client-ip-header", "True_Client_IP",
                "--accept-proxy-from", "10.1.2.3/8", "--accept-proxy-from", "2001:db8::1/32");
        var forwarding = given.forwarding();
        List<String> more = new java.util.ArrayList<>(io.diglett.server.config.ForwardingSettings
                .DEFAULT_CLIENT_IP_HEADERS);
        more.add("x-mine");
        assertEquals(more, forwarding.clientIpHeaders(), "added to the defaults (true-client-ip is one already)");
        assertTrue(more.containsAll(List.of("forwarded-for", "x-originating-ip", "x-remote-ip", "x-remote-addr",
                "x-appengine-user-ip", "cf-pseudo-ipv4")), more.toString());
        assertEquals("[10.0.0.0/8, 2001:db8:0:0:0:0:0:0/32]", forwarding.acceptProxyFrom().toString());
        assertTrue(forwarding.proxyFrom(addr("10.200.0.1")));
        assertTrue(forwarding.proxyFrom(addr("::ffff:10.9.9.9")), "IPv4-mapped");
        assertTrue(forwarding.proxyFrom(addr("2001:db8:ffff::5")));
        assertTrue(!forwarding.proxyFrom(addr("11.0.0.1")) && !forwarding.proxyFrom(addr("2001:db9::1")));

        ServerCommand none = new ServerCommand();
        new CommandLine(none).parseArgs("--client-ip-header", "none");
        assertEquals(List.of(), none.forwarding().clientIpHeaders());
        ServerCommand only = new ServerCommand();
        new CommandLine(only).parseArgs("--client-ip-header", "X-Mine", "--client-ip-header", "None");
        assertEquals(List.of("x-mine"), only.forwarding().clientIpHeaders(), "'none' leaves the defaults out");
    }

    private static InetAddress addr(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aBadAddressFromTheEnvironmentSaysWhereItCameFrom() {
        CliRun.Result run = CliRun.run(new ServerCommand(), Map.of("DIGLETT_BIND", "1.2.3.4.5"), "--plaintext",
                "-l", "127.0.0.1:0");
        assertEquals(2, run.exitCode(), run.err());
        String firstLine = run.err().lines().findFirst().orElse("");
        assertTrue(firstLine.contains("--bind 1.2.3.4.5: not an IP address or a known host name")
                && firstLine.contains("DIGLETT_BIND"), firstLine);
    }

    /** An admin endpoint beyond loopback needs a token; --admin-host needs --admin. */
    @Test
    void theAdminEndpointOptionsAreChecked() {
        Object[][] cases = {
            {new String[] {"--plaintext", "-l", "127.0.0.1:0", "--admin", "0.0.0.0:0"},
                "--admin 0.0.0.0:0 is reachable beyond this host: give it a token (--admin-token or"},
            {new String[] {"--plaintext", "-l", "127.0.0.1:0", "--admin-host", "admin.example"},
                "--admin-host is for --admin, which is not given"},
        };
        for (Object[] c : cases) {
            StringWriter err = new StringWriter();
            assertEquals(2, run(err, (String[]) c[0]), err.toString());
            String firstLine = err.toString().lines().findFirst().orElse("");
            assertTrue(firstLine.contains((String) c[1]), firstLine);
        }
    }

    @Test
    void aTakenListenAddressExitsWith1() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertEquals(1, run(new StringWriter(), "-l", "127.0.0.1:" + taken.getLocalPort(),
                    "--state-dir", temp.toString()));
        }
    }
}
