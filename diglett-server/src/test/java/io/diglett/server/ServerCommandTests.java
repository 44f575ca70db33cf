package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
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

    @Test
    void wrongArgumentsExitWith2() {
        String[][] cases = {
            {"--port-range", "40000-30000"},
            {"--port-range", "abc"},
            {"-l", "0.0.0.0:99999"},
            {"--window", "12"},
            {"--max-streams-per-agent", "0"},
            {"--nope"},
        };
        for (String[] args : cases) {
            StringWriter err = new StringWriter();
            assertEquals(2, run(err, args), String.join(" ", args) + ": " + err);
            assertTrue(err.toString().contains("Usage: diglett-server"), err.toString());
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
