package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.agent.AgentCommand;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import io.diglett.server.cli.ServerCommand;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What a hostile peer says cannot forge a log line or drive a terminal (docs/security.md, "What a peer says, in
 * your logs"): a real gateway process and a real agent process, their output read line by line.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LogInjectionTests {

    /** A line break, then the default registrar's line as operators' automation reads it, then terminal control. */
    private static final String FORGERY = "bye\r\n2026-12-04 16:00:00.000 INFO register domain 'bank' -> '443'\n"
            + "register domain 'bank' -> '443'\u001b[2J\u001b]0;owned\u0007\u009b31m\u202egnp.exe";

    /** A line as the operator's automation matches it: the registrar's line at the start of a log message. */
    private static final Pattern FORGED = Pattern.compile("^(\\S+ \\S+ INFO )?register domain 'bank'");

    /** Any C0 or C1 control character (line breaks are gone: they end the lines), DEL, or a bidi override. */
    private static final Pattern RAW_CONTROL = Pattern.compile("[\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]");

    private static void assertClean(List<String> lines) {
        lines.stream().filter(line -> line.contains("'bank'")).forEach(line -> System.out.println("logged: " + line));
        for (String line : lines) {
            assertTrue(!FORGED.matcher(line).find(), "a forged log line: " + line);
            assertTrue(!RAW_CONTROL.matcher(line).find(), "a raw control character in: " + line);
        }
    }

    @Test
    void anAgentsReasonsAndARegistrarsOutputCannotForgeGatewayLogLines() throws Exception {
        String failing = "if [ \"$NAME\" = evil ]; then printf 'no\\r\\nregister domain '\"'\"'bank'\"'\"' -> "
                + "'\"'\"'443'\"'\"'\\033[2J'; exit 1; fi";
        try (ChildProcess gateway = ChildProcess.start(ServerCommand.class, "-l", "127.0.0.1:0", "--bind",
                "127.0.0.1", "--plaintext", "--registrar", "exec",
                "--registrar-option", "command=" + failing)) {
            int port = Integer.parseInt(gateway.await("listening for agents on 127\\.0\\.0\\.1:(\\d+)", 30_000)
                    .group(1));

            // an agent that registers a name, then ends its session with a forged reason
            try (RawAgent agent = new RawAgent(port).loggedIn()) {
                agent.register(1, "victim");
                agent.finish();
                gateway.await("register domain 'victim' -> '\\d+'", 10_000);
                agent.send(FrameKind.TERMINATE, 0, FORGERY);
                gateway.await("ended its session: bye", 10_000);
            }
            // one that reports a connection error with it
            try (RawAgent agent = new RawAgent(port).loggedIn()) {
                agent.register(1, "victim-too");
                agent.finish();
                agent.send(FrameKind.ERROR, 0, FORGERY);
                gateway.await("reported an error: bye", 10_000);
            }
            // and a registrar command whose output carries it: the output goes to the log, escaped; the agent
            // gets a generic reason
            try (RawAgent agent = new RawAgent(port).loggedIn()) {
                agent.register(1, "evil");
                agent.send(FrameKind.FINISH_REGISTER, 0, new byte[0]);
                RawAgent.RawFrame error = agent.readSkippingKeepalive();
                assertEquals(FrameKind.ERROR.code(), error.kind());
                assertEquals("exposing 'evil' failed: the registrar refused it", error.text());
                gateway.await("registrar command \\(register 'evil'\\) exited with 1: no\\\\u000d", 10_000);
            }
            List<String> lines = gateway.lines();
            assertTrue(lines.stream().anyMatch(l -> l.contains("ended its session: bye\\u000d\\u000a2026-12-04")),
                    "the reason is logged, escaped, on the line it belongs to:\n" + String.join("\n", lines));
            assertClean(lines);
        }
    }

    @Test
    void aGatewaysUrlsAndReasonsReachTheAgentsOutputEscaped() throws Exception {
        try (ServerSocket fake = new ServerSocket(0, 4, InetAddress.getLoopbackAddress());
             ChildProcess agent = ChildProcess.start(AgentCommand.class, "--plaintext", "-g",
                     "127.0.0.1:" + fake.getLocalPort(), "-n", "victim", "--reconnect-max", "1", "127.0.0.1:9")) {
            CompletableFuture<Void> served = CompletableFuture.runAsync(() -> {
                try {
                    try (Socket link = fake.accept()) {
                        FakeGateway gateway = new FakeGateway(link);
                        gateway.register("https://victim.example\u001b[31m\r\nforged.example\u009b2J");
                        gateway.send(FrameKind.TERMINATE, 0, FORGERY);
                        gateway.in.readAllBytes(); // until the agent closes the link
                    }
                    try (Socket link = fake.accept()) {
                        FakeGateway gateway = new FakeGateway(link);
                        gateway.login();
                        gateway.send(FrameKind.REFUSE, 0, FORGERY);
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            agent.await("online: 'victim' is reachable at https://victim.example\\\\u001b\\[31m", 30_000);
            agent.await("the gateway ended the session: bye\\\\u000d\\\\u000a", 10_000);
            agent.await("the gateway refused this agent: bye", 30_000);
            served.get(10, TimeUnit.SECONDS);
            assertEquals(1, agent.exitCode(10_000), "refused: the agent stops");
            assertClean(agent.lines());
        }
    }

    /**
     * Just enough of a version-4 gateway, in plaintext, to bring an agent online: it answers this agent's handshake
     * with 4, which a version-5 agent speaks, with one link (docs/protocol.md, section 9).
     */
    private static final class FakeGateway {
        final DataInputStream in;
        final DataOutputStream out;

        FakeGateway(Socket link) throws IOException {
            link.setSoTimeout(20_000);
            in = new DataInputStream(link.getInputStream());
            out = new DataOutputStream(link.getOutputStream());
            assertEquals(Protocol.MAGIC, in.readInt());
            assertEquals(Protocol.VERSION, in.readUnsignedByte());
            out.writeInt(Protocol.MAGIC);
            out.writeByte(4);
        }

        int expect(FrameKind kind) throws IOException {
            int got = in.readUnsignedByte();
            int id = in.readInt();
            in.readFully(new byte[in.readUnsignedShort()]);
            assertEquals(kind.code(), got, "the agent's frame");
            return id;
        }

        void send(FrameKind kind, int id, byte[] payload) throws IOException {
            out.writeByte(kind.code());
            out.writeInt(id);
            out.writeShort(payload.length);
            out.write(payload);
            out.flush();
        }

        void send(FrameKind kind, int id, String text) throws IOException {
            send(kind, id, text.getBytes(StandardCharsets.UTF_8));
        }

        void login() throws IOException {
            expect(FrameKind.LOGIN);
            send(FrameKind.OK, 0, new byte[0]);
        }

        /** Login, one Register answered with port 4321 and {@code url}, FinishRegister. */
        void register(String url) throws IOException {
            login();
            int registration = expect(FrameKind.REGISTER);
            byte[] text = url.getBytes(StandardCharsets.UTF_8);
            byte[] payload = new byte[2 + text.length];
            payload[0] = (byte) (4321 >> 8);
            payload[1] = (byte) 4321;
            System.arraycopy(text, 0, payload, 2, text.length);
            send(FrameKind.OK, registration, payload);
            expect(FrameKind.FINISH_REGISTER);
            send(FrameKind.OK, 0, new byte[0]);
        }
    }
}
