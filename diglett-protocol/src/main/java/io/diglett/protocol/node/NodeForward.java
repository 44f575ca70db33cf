package io.diglett.protocol.node;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Names;
import io.diglett.protocol.ProtocolException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The node-to-node forwarding handshake of a cluster (docs/protocol.md, section 10): a node that receives a public
 * connection for a name another node holds opens a TCP connection to that node's {@code --node-listen} address
 * and, before any byte of the client, says which name, which claim (its fencing number) and which client it is,
 * authenticated with the cluster's shared secret.
 *
 * <pre>
 *   holder -> entry   Hello:  "DGLN" (4 bytes), version (1), nonce (16 random bytes)
 *   entry  -> holder  Ask:    length (u16, of what follows), version (1), kind (1: 0 forward, 1 probe, 2 alive),
 *                             challenge (16 random bytes of the entry node), name length (1), name (ASCII; empty
 *                             for a probe),
 *                             fence (u64), client address and destination (each: family 4|6 (1), address (4|16),
 *                             port (u16)), HMAC-SHA256 (32) under the secret of "diglett forward 1", the nonce and
 *                             every byte of the Ask before the HMAC
 *   holder -> entry   Answer: status (1: 0 accepted, 1 refused), length (u16), reason (UTF-8, empty when accepted)
 * </pre>
 * After an accepted Answer the connection carries the client's bytes both ways, and a half-close of either side
 * is the client's. A refused one is closed by the holder after its Answer. A probe asks whether the node reaches
 * the cluster store: its Answer is accepted with the reason {@code store up MILLIS} (when it last heard the store) or
 * {@code store down}; an alive check
 * whether the name's agent answers ({@code alive} or {@code gone}); both Answers are followed by an HMAC-SHA256
 * under the secret of "diglett answer 1", the holder's nonce, the Ask's challenge and the Answer, then the
 * connection closes. The challenge is the asker's: an answer recorded from another exchange (for the same nonce,
 * a Hello replayed by someone who is not the holder) does not verify.
 */
public final class NodeForward {

    public static final byte[] MAGIC = {'D', 'G', 'L', 'N'};
    public static final int VERSION = 1;
    public static final int NONCE_LENGTH = 16;
    public static final int HELLO_LENGTH = MAGIC.length + 1 + NONCE_LENGTH;
    /** Longest Ask after its length field: a 63-byte name and two IPv6 addresses fit with room to spare. */
    public static final int MAX_ASK = 256;
    public static final int MAX_REASON = 512;
    private static final int HMAC_LENGTH = 32;
    private static final byte[] LABEL = "diglett forward 1".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ANSWER_LABEL = "diglett answer 1".getBytes(StandardCharsets.US_ASCII);
    private static final SecureRandom RANDOM = new SecureRandom();

    private NodeForward() {
    }

    /**
     * What an Ask is for: {@code FORWARD} (version 1 before node links; refused now), a {@code PROBE}, an
     * {@code ALIVE} check, or a node {@code LINK} for one name's streams.
     */
    public enum Kind { FORWARD, PROBE, ALIVE, LINK }

    /** What a probe's accepted Answer says when the node reaches the cluster store, and when it does not. */
    public static final String STORE_UP = "store up";
    public static final String STORE_DOWN = "store down";
    /** What an accepted Answer to an ALIVE Ask says: the name's agent answered within the deadline, or not. */
    public static final String AGENT_ALIVE = "alive";
    public static final String AGENT_GONE = "gone";

    /**
     * What the entry node asks the holder: carry this client's connection to {@code name}'s agent; or, a probe,
     * whether the node reaches the cluster store.
     */
    public record Ask(Kind kind, String name, long fence, InetSocketAddress client, InetSocketAddress destination,
                      byte[] challenge) {

        public Ask {
            if (challenge.length != NONCE_LENGTH) {
                throw new IllegalArgumentException("a challenge of " + challenge.length + " bytes");
            }
            challenge = challenge.clone();
        }

        /** A forward of {@code client}'s connection to {@code name}, held under claim {@code fence}. */
        public Ask(String name, long fence, InetSocketAddress client, InetSocketAddress destination) {
            this(Kind.FORWARD, name, fence, client, destination, newNonce());
        }

        /** Is the agent holding {@code name} under claim {@code fence} alive (it answers a Ping in time)? */
        public static Ask alive(String name, long fence) {
            InetSocketAddress none = new InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0);
            return new Ask(Kind.ALIVE, name, fence, none, none, newNonce());
        }

        /** A node link that will carry the streams of {@code name}'s public connections (see {@link Open}). */
        public static Ask link(String name) {
            InetSocketAddress none = new InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0);
            return new Ask(Kind.LINK, name, 0, none, none, newNonce());
        }

        /** A probe: does the node reach the cluster store? */
        public static Ask probe() {
            InetSocketAddress none = new InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0);
            return new Ask(Kind.PROBE, "", 0, none, none, newNonce());
        }

        @Override
        public byte[] challenge() {
            return challenge.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Ask other && kind == other.kind && name.equals(other.name) && fence == other.fence
                    && client.equals(other.client) && destination.equals(other.destination)
                    && MessageDigest.isEqual(challenge, other.challenge);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(kind, name, fence, client, destination, java.util.Arrays.hashCode(challenge));
        }

        @Override
        public String toString() {
            return "Ask[" + kind + " '" + name + "' fence " + fence + " client " + client + " to " + destination + "]";
        }

        /** The Ask for {@code hello}'s nonce, authenticated with {@code secret}. */
        public ByteBuf encode(ByteBufAllocator alloc, byte[] nonce, byte[] secret) {
            ByteBuf body = alloc.buffer(MAX_ASK);
            try {
                body.writeByte(VERSION);
                body.writeByte(kind.ordinal());
                body.writeBytes(challenge);
                byte[] ascii = name.getBytes(StandardCharsets.US_ASCII);
                body.writeByte(ascii.length).writeBytes(ascii);
                body.writeLong(fence);
                writeAddress(body, client);
                writeAddress(body, destination);
                byte[] mac = mac(secret, nonce, body, body.readerIndex(), body.readableBytes());
                body.writeBytes(mac);
                ByteBuf out = alloc.buffer(2 + body.readableBytes());
                out.writeShort(body.readableBytes()).writeBytes(body);
                return out;
            } finally {
                body.release();
            }
        }

        /**
         * Reads an Ask (its length field already read: {@code body} holds exactly the Ask) and checks its HMAC.
         *
         * @throws ProtocolException when it does not parse, or was not made with {@code secret} for {@code nonce}
         */
        public static Ask decode(ByteBuf body, byte[] nonce, byte[] secret) {
            int start = body.readerIndex();
            int length = body.readableBytes();
            if (length < 1 + 1 + NONCE_LENGTH + 1 + 8 + 2 * 7 + HMAC_LENGTH || length > MAX_ASK) {
                throw new ProtocolException("forward ask of " + length + " bytes");
            }
            byte[] expected = mac(secret, nonce, body, start, length - HMAC_LENGTH);
            byte[] given = new byte[HMAC_LENGTH];
            body.getBytes(start + length - HMAC_LENGTH, given);
            if (!MessageDigest.isEqual(expected, given)) {
                throw new ProtocolException("forward ask not made with this cluster's secret");
            }
            int version = body.readUnsignedByte();
            if (version != VERSION) {
                throw new ProtocolException("forward ask of version " + version + ", this node speaks " + VERSION);
            }
            int kindCode = body.readUnsignedByte();
            if (kindCode >= Kind.values().length) {
                throw new ProtocolException("forward ask of kind " + kindCode);
            }
            Kind kind = Kind.values()[kindCode];
            byte[] challenge = new byte[NONCE_LENGTH];
            body.readBytes(challenge);
            int nameLength = body.readUnsignedByte();
            if (nameLength > body.readableBytes()) {
                throw new ProtocolException("forward ask: name longer than the ask");
            }
            String name = body.readCharSequence(nameLength, StandardCharsets.US_ASCII).toString();
            if (kind == Kind.PROBE ? !name.isEmpty() : Names.problem(name) != null) {
                throw new ProtocolException("forward ask: not a name");
            }
            long fence = body.readLong();
            InetSocketAddress client = readAddress(body);
            InetSocketAddress destination = readAddress(body);
            if (body.readableBytes() != HMAC_LENGTH) {
                throw new ProtocolException("forward ask: " + (body.readableBytes() - HMAC_LENGTH)
                        + " bytes too many");
            }
            body.skipBytes(HMAC_LENGTH);
            return new Ask(kind, name, fence, client, destination, challenge);
        }
    }

    /**
     * A stream's Open on a node link (an Open frame): the entry's receive window for it, the fence of the claim the
     * entry saw, the client's address and the address it connected to. The name is the link's.
     */
    public record Open(int window, long fence, InetSocketAddress client, InetSocketAddress destination) {

        public Frame encode(ByteBufAllocator alloc, int stream) {
            ByteBuf payload = alloc.buffer(4 + 8 + 2 * 19);
            payload.writeInt(window).writeLong(fence);
            writeAddress(payload, client);
            writeAddress(payload, destination);
            return new Frame(FrameKind.OPEN, stream, payload);
        }

        /**
         * Reads a node link's Open.
         *
         * @throws ProtocolException when it is not one
         */
        public static Open decode(Frame frame) {
            if (frame.kind() != FrameKind.OPEN) {
                throw new IllegalArgumentException("a " + frame.kind() + " frame, not OPEN");
            }
            ByteBuf in = frame.content().duplicate();
            if (in.readableBytes() < 4 + 8 + 2 * 7) {
                throw new ProtocolException("node link Open of " + in.readableBytes() + " bytes");
            }
            int window = in.readInt();
            long fence = in.readLong();
            InetSocketAddress client = readAddress(in);
            InetSocketAddress destination = readAddress(in);
            if (in.isReadable()) {
                throw new ProtocolException("node link Open: " + in.readableBytes() + " bytes too many");
            }
            return new Open(window, fence, client, destination);
        }
    }

    /** {@link #NONCE_LENGTH} new random bytes. */
    public static byte[] newNonce() {
        byte[] nonce = new byte[NONCE_LENGTH];
        RANDOM.nextBytes(nonce);
        return nonce;
    }

    /** The holder's first bytes: the magic, the version and a new nonce (written into {@code nonce}). */
    public static ByteBuf hello(ByteBufAllocator alloc, byte[] nonce) {
        RANDOM.nextBytes(nonce);
        return alloc.buffer(HELLO_LENGTH).writeBytes(MAGIC).writeByte(VERSION).writeBytes(nonce);
    }

    /**
     * Reads a Hello ({@link #HELLO_LENGTH} bytes) and returns its nonce.
     *
     * @throws ProtocolException when it is not one of this version
     */
    public static byte[] readHello(ByteBuf in) {
        byte[] magic = new byte[MAGIC.length];
        in.readBytes(magic);
        if (!MessageDigest.isEqual(magic, MAGIC)) {
            throw new ProtocolException("not a diglett node (no forwarding hello)");
        }
        int version = in.readUnsignedByte();
        if (version != VERSION) {
            throw new ProtocolException("the holder node speaks forwarding version " + version + ", this node "
                    + VERSION + ": upgrade the older node");
        }
        byte[] nonce = new byte[NONCE_LENGTH];
        in.readBytes(nonce);
        return nonce;
    }

    /** The holder's Answer: accepted ({@code reason} null) or refused with {@code reason}. */
    public static ByteBuf answer(ByteBufAllocator alloc, String reason) {
        return answer(alloc, reason == null ? 0 : 1, reason == null ? "" : reason);
    }

    /**
     * The Answer to an ALIVE Ask: accepted, saying whether the name's agent answered in time, followed by its
     * {@link #answerMac}: a node that acts on it (takes a name over) must know the holder said it.
     */
    public static ByteBuf aliveAnswer(ByteBufAllocator alloc, boolean alive, byte[] nonce, Ask ask, byte[] secret) {
        return signed(answer(alloc, 0, alive ? AGENT_ALIVE : AGENT_GONE), nonce, ask, secret);
    }

    /**
     * The accepted Answer to a LINK Ask, followed by its {@link #answerMac}: the entry is about to send the name's
     * clients down this link, so it must know the holder said it.
     */
    public static ByteBuf linkAccepted(ByteBufAllocator alloc, byte[] nonce, Ask ask, byte[] secret) {
        return signed(answer(alloc, 0, ""), nonce, ask, secret);
    }

    /**
     * The Answer to a probe: accepted, saying whether this node reaches the cluster store, followed by its
     * {@link #answerMac}: a node that acts on it (sends its agents away) must know another node said it.
     */
    public static ByteBuf probed(ByteBufAllocator alloc, boolean storeUp, long heardMillisAgo, byte[] nonce, Ask ask,
                                 byte[] secret) {
        return signed(answer(alloc, 0, storeUp ? STORE_UP + " " + Math.max(0, heardMillisAgo) : STORE_DOWN), nonce,
                ask, secret);
    }

    /**
     * How many milliseconds before its answer the probed node last heard the store, from a probe's Answer
     * ({@code store up MILLIS}); -1 when it says the store is down, or the answer is not a probe's.
     */
    public static long heardMillisAgo(String reason) {
        if (!reason.startsWith(STORE_UP + " ")) {
            return -1;
        }
        try {
            return Long.parseLong(reason.substring(STORE_UP.length() + 1));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static ByteBuf signed(ByteBuf answer, byte[] nonce, Ask ask, byte[] secret) {
        return answer.writeBytes(answerMac(secret, nonce, ask, answer, answer.readerIndex(), answer.readableBytes()));
    }

    /** Length of the MAC after a probe's or an alive check's Answer. */
    public static final int ANSWER_MAC_LENGTH = HMAC_LENGTH;

    /**
     * HMAC-SHA256 under the secret of "diglett answer 1", the connection's nonce, the challenge of the {@code ask}
     * it answers and the Answer's bytes (status, length, reason): what follows the Answer to a probe or an alive
     * check.
     */
    public static byte[] answerMac(byte[] secret, byte[] nonce, Ask ask, ByteBuf answer, int from, int length) {
        byte[] both = new byte[2 * NONCE_LENGTH];
        System.arraycopy(nonce, 0, both, 0, NONCE_LENGTH);
        System.arraycopy(ask.challenge, 0, both, NONCE_LENGTH, NONCE_LENGTH);
        return mac(ANSWER_LABEL, secret, both, answer, from, length);
    }

    private static ByteBuf answer(ByteBufAllocator alloc, int status, String reason) {
        byte[] text = reason.getBytes(StandardCharsets.UTF_8);
        int length = Math.min(text.length, MAX_REASON);
        return alloc.buffer(3 + length).writeByte(status).writeShort(length).writeBytes(text, 0, length);
    }

    private static void writeAddress(ByteBuf out, InetSocketAddress address) {
        byte[] ip = address.getAddress().getAddress();
        out.writeByte(ip.length == 4 ? 4 : 6).writeBytes(ip).writeShort(address.getPort());
    }

    private static InetSocketAddress readAddress(ByteBuf in) {
        int family = in.readUnsignedByte();
        int length = family == 4 ? 4 : family == 6 ? 16 : -1;
        if (length < 0 || in.readableBytes() < length + 2) {
            throw new ProtocolException("node message: bad address");
        }
        byte[] ip = new byte[length];
        in.readBytes(ip);
        try {
            return new InetSocketAddress(InetAddress.getByAddress(ip), in.readUnsignedShort());
        } catch (UnknownHostException e) {
            throw new ProtocolException("node message: bad address");
        }
    }

    private static byte[] mac(byte[] secret, byte[] nonce, ByteBuf body, int from, int length) {
        return mac(LABEL, secret, nonce, body, from, length);
    }

    private static byte[] mac(byte[] label, byte[] secret, byte[] nonce, ByteBuf body, int from, int length) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            mac.update(label);
            mac.update(nonce);
            byte[] bytes = new byte[length];
            body.getBytes(from, bytes);
            mac.update(bytes);
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available", e);
        }
    }
}
