package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.AgentCommand;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent on a terminal: its status screen there, its log lines in {@code agent.log} under the state directory
 * (README, "The full example, on one machine"), never on the screen. A real agent process on a pseudo-terminal
 * made by util-linux's {@code script}, against a gateway in this JVM.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AgentConsoleTests {

    @TempDir
    Path state;

    @Test
    void onATerminalTheLogGoesToTheStateDirectoryAndTheScreenShowsTheStatus() throws Exception {
        try (TunnelFixture fixture = TunnelFixture.plaintext();
             ServerSocket backend = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
            List<String> agent = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                    .toString(), "-Xmx128m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                    AgentCommand.class.getName(), "--plaintext", "-g", "127.0.0.1:" + fixture.address.getPort(),
                    "-n", "screen", "127.0.0.1:" + backend.getLocalPort()));
            String transport = System.getProperty(io.diglett.common.transport.Transport.PROPERTY);
            if (transport != null) {
                agent.add(1, "-D" + io.diglett.common.transport.Transport.PROPERTY + "=" + transport);
            }
            // script -e: its exit code is the agent's; -f: the screen is written as it comes; /dev/null: no typescript
            ProcessBuilder builder = new ProcessBuilder("script", "-q", "-f", "-e", "-c", shellWords(agent),
                    "/dev/null").redirectErrorStream(true);
            builder.environment().put("TERM", "xterm");
            builder.environment().put("XDG_STATE_HOME", state.toString());
            Process script = builder.start();
            ByteArrayOutputStream screen = new ByteArrayOutputStream();
            Thread reader = copy(script.getInputStream(), screen);
            Path log = state.resolve("diglett").resolve("agent.log");
            try {
                TunnelTests.waitFor(() -> read(log).contains("online: 'screen' is reachable at 127.0.0.1:"),
                        "the agent's log file says it is online");
                TunnelTests.waitFor(() -> text(screen).contains("online for"), "the screen says it is online");
            } finally {
                script.descendants().forEach(ProcessHandle::destroy); // the agent: SIGTERM
                script.destroy();
                script.waitFor(20, TimeUnit.SECONDS);
                reader.join(10_000);
            }
            String shown = text(screen);
            assertTrue(shown.contains("Forwarding"), "the status screen:\n" + shown);
            assertFalse(shown.contains(" INFO "), "no log line on the screen:\n" + shown);
            assertFalse(shown.contains("online: 'screen'"), "no log line on the screen:\n" + shown);
            assertTrue(read(log).contains("connecting to gateway 127.0.0.1:" + fixture.address.getPort()),
                    "the log file has the agent's lines from the first:\n" + read(log));
        }
    }

    /** {@code words} as one sh command line, each single-quoted. */
    private static String shellWords(List<String> words) {
        StringBuilder line = new StringBuilder("exec");
        for (String word : words) {
            line.append(" '").append(word.replace("'", "'\\''")).append('\'');
        }
        return line.toString();
    }

    private static Thread copy(InputStream in, ByteArrayOutputStream out) {
        Thread thread = new Thread(() -> {
            byte[] buffer = new byte[8192];
            try {
                for (int n; (n = in.read(buffer)) >= 0; ) {
                    synchronized (out) {
                        out.write(buffer, 0, n);
                    }
                }
            } catch (IOException ignored) {
                // the terminal closed
            }
        }, "screen");
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    private static String text(ByteArrayOutputStream out) {
        synchronized (out) {
            return out.toString(StandardCharsets.UTF_8);
        }
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return "";
        }
    }
}
