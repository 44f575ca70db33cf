package io.diglett.server;

import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** A hand-driven agent that writes raw bytes, for probing the gateway with bad input. */
final class RawAgent implements AutoCloseable {

    /** A frame as read off the wire. */
    record RawFrame(int kind, int id, byte[] payload) {
        String text() {
            return new String(payload, StandardCharsets.UTF_8);
        }
    }

    final Socket socket;
    /** The session the gateway's Ok to our Login named (version 5), or {@code null}. */
    io.diglett.protocol.Joining.Session session;
    final DataInputStream in;
    final DataOutputStream out;

    RawAgent(int port) throws IOException {
        this(TestServers.connect(port));
    }

    /** An agent of the gateway at {@code address} (a node of a cluster test on 127.0.0.x). */
    RawAgent(java.net.InetSocketAddress address) throws IOException {
        this(TestServers.connect(address));
    }

    /** Frames over {@code connected}, a socket whose first bytes were already exchanged (a node link). */
    static RawAgent over(Socket connected) throws IOException {
        return new RawAgent(connected);
    }

    private RawAgent(Socket connected) throws IOException {
        socket = connected;
        socket.setSoTimeout(5_000);
        in = new DataInputStream(socket.getInputStream());
        out = new DataOutputStream(socket.getOutputStream());
    }

    RawAgent handshake(int version) throws IOException {
        out.writeInt(Protocol.MAGIC);
        out.writeByte(version);
        out.flush();
        return this;
    }

    /** Reads the gateway's handshake and returns its version. */
    int readHandshake() throws IOException {
        int magic = in.readInt();
        if (magic != Protocol.MAGIC) {
            throw new IOException(String.format("bad magic 0x%08x", magic));
        }
        return in.readUnsignedByte();
    }

    RawAgent send(FrameKind kind, int id, byte[] payload) throws IOException {
        out.writeByte(kind.code());
        out.writeInt(id);
        out.writeShort(payload.length);
        out.write(payload);
        out.flush();
        return this;
    }

    RawAgent send(FrameKind kind, int id, String payload) throws IOException {
        return send(kind, id, payload.getBytes(StandardCharsets.UTF_8));
    }

    RawFrame read() throws IOException {
        int kind = in.readUnsignedByte();
        int id = in.readInt();
        int size = in.readUnsignedShort();
        byte[] payload = new byte[size];
        in.readFully(payload);
        return new RawFrame(kind, id, payload);
    }

    /** The next frame that is not a Ping (the gateway's keepalive, when a test takes its time). */
    RawFrame readSkippingPings() throws IOException {
        RawFrame frame;
        do {
            frame = read();
        } while (frame.kind() == FrameKind.PING.code());
        return frame;
    }

    /** Handshake and login with an empty token, expecting Ok. */
    RawAgent loggedIn() throws IOException {
        return loggedIn(Protocol.VERSION);
    }

    /** Handshake as an agent of {@code version}, expecting the gateway to answer with it, and login. */
    RawAgent loggedIn(int version) throws IOException {
        handshake(version);
        int answer = readHandshake();
        if (answer != version) {
            throw new IOException("the gateway answered version " + version + " with " + answer);
        }
        send(FrameKind.LOGIN, 0, new byte[0]);
        RawFrame ok = read();
        if (ok.kind() != FrameKind.OK.code()) {
            throw new IOException("login failed: " + ok.text());
        }
        session = sessionOf(ok, version);
        return this;
    }

    private static io.diglett.protocol.Joining.Session sessionOf(RawFrame ok, int version) {
        io.diglett.protocol.Frame frame = new io.diglett.protocol.Frame(FrameKind.OK, 0,
                io.netty.buffer.Unpooled.wrappedBuffer(ok.payload()));
        try {
            return io.diglett.protocol.Joining.Session.decode(frame, version);
        } finally {
            frame.release();
        }
    }

    /**
     * Handshake of this version, then Join {@code to}, answering the gateway's Challenge with the proof {@code
     * prove} makes of it; returns the gateway's answer to the Proof (Ok with the link's number, or Refuse).
     */
    RawFrame join(java.util.UUID to, java.util.function.Function<io.diglett.protocol.Joining.Challenge,
            io.diglett.protocol.Joining.Proof> prove) throws IOException {
        handshake(Protocol.VERSION);
        int answer = readHandshake();
        if (answer != Protocol.VERSION) {
            throw new IOException("the gateway answered version " + Protocol.VERSION + " with " + answer);
        }
        send(FrameKind.JOIN, 0, bytes(new io.diglett.protocol.Joining.Join(to)
                .encode(io.netty.buffer.UnpooledByteBufAllocator.DEFAULT)));
        RawFrame challenge = read();
        if (challenge.kind() != FrameKind.CHALLENGE.code()) {
            return challenge;
        }
        io.diglett.protocol.Joining.Proof proof = prove.apply(
                new io.diglett.protocol.Joining.Challenge(challenge.payload()));
        send(FrameKind.PROOF, 0, bytes(proof.encode(io.netty.buffer.UnpooledByteBufAllocator.DEFAULT)));
        return read();
    }

    /** Joins {@code session} with the right proof, expecting Ok; returns the link's number. */
    int joined(io.diglett.protocol.Joining.Session session) throws IOException {
        RawFrame ok = join(session.id(), c -> io.diglett.protocol.Joining.Proof.of(session, c));
        if (ok.kind() != FrameKind.OK.code() || ok.payload().length != 4) {
            throw new IOException("join failed: kind " + ok.kind() + ": " + ok.text());
        }
        return java.nio.ByteBuffer.wrap(ok.payload()).getInt();
    }

    private static byte[] bytes(io.diglett.protocol.Frame frame) {
        try {
            return io.netty.buffer.ByteBufUtil.getBytes(frame.content());
        } finally {
            frame.release();
        }
    }

    /** Handshake of this version and a Login with {@code token} and the instance id {@code instance}, expecting Ok. */
    RawAgent loggedIn(String token, java.util.UUID instance) throws IOException {
        handshake(Protocol.VERSION);
        int answer = readHandshake();
        if (answer != Protocol.VERSION) {
            throw new IOException("the gateway answered version " + Protocol.VERSION + " with " + answer);
        }
        io.diglett.protocol.Frame login = new io.diglett.protocol.Requests.Login(token, instance)
                .encode(io.netty.buffer.UnpooledByteBufAllocator.DEFAULT, Protocol.VERSION);
        try {
            send(FrameKind.LOGIN, 0, io.netty.buffer.ByteBufUtil.getBytes(login.content()));
        } finally {
            login.release();
        }
        RawFrame ok = read();
        if (ok.kind() != FrameKind.OK.code()) {
            throw new IOException("login failed: " + ok.text());
        }
        return this;
    }

    /** The next frame that is neither Ping nor Pong. */
    RawFrame readSkippingKeepalive() throws IOException {
        RawFrame frame;
        do {
            frame = read();
        } while (frame.kind() == FrameKind.PING.code() || frame.kind() == FrameKind.PONG.code());
        return frame;
    }

    /** Registers {@code name} as {@code registration} and returns the public port of the gateway's Ok. */
    int register(int registration, String name) throws IOException {
        send(FrameKind.REGISTER, registration, name);
        RawFrame answer = readSkippingKeepalive();
        if (answer.kind() != FrameKind.OK.code() || answer.id() != registration) {
            throw new IOException("registering '" + name + "' got kind " + answer.kind() + ": " + answer.text());
        }
        return ((answer.payload()[0] & 0xFF) << 8) | (answer.payload()[1] & 0xFF);
    }

    /** FinishRegister, expecting Ok: the names are live. */
    void finish() throws IOException {
        send(FrameKind.FINISH_REGISTER, 0, new byte[0]);
        RawFrame ok = readSkippingKeepalive();
        if (ok.kind() != FrameKind.OK.code()) {
            throw new IOException("finishing registration got kind " + ok.kind() + ": " + ok.text());
        }
    }

    /** Whether the gateway closed the connection (end of stream or reset) within the socket timeout. */
    boolean closedByPeer() throws IOException {
        try {
            while (true) {
                if (in.read() < 0) {
                    return true;
                }
            }
        } catch (EOFException | java.net.SocketException e) {
            return true;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
