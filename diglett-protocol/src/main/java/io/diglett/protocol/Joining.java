package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Objects;
import java.util.UUID;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Several links, one session (version 5, docs/protocol.md section 5.1): the payloads by which a link joins the
 * session another link of the same agent logged in. The Ok to Login carries the session's id and join key
 * ({@link Session}); a new link sends {@link Join} with the id instead of a Login, the gateway answers with a fresh
 * {@link Challenge}, the agent answers with a {@link Proof}, an HMAC-SHA256 of the challenge under the join key,
 * and the gateway's Ok ({@link Joined}) gives the link its number. The key itself never crosses the link again,
 * and a proof is good for one challenge only, so a recorded proof cannot be replayed. Each decoder checks the
 * frame's kind and the payload's length before reading anything.
 */
public final class Joining {

    /** First version with sessions of several links. */
    public static final int SINCE = 5;
    /** Bytes of a session id. */
    public static final int SESSION_ID_BYTES = 16;
    /** Bytes of a join key. */
    public static final int KEY_BYTES = 32;
    /** Bytes of a challenge. */
    public static final int CHALLENGE_BYTES = 16;
    /** Bytes of a proof: one HMAC-SHA256. */
    public static final int PROOF_BYTES = 32;
    /** What the proof's HMAC covers first, so that it can never be mistaken for another use of the key. */
    private static final byte[] PROOF_LABEL = "diglett join v5".getBytes(StandardCharsets.US_ASCII);
    private static final SecureRandom RANDOM = new SecureRandom();

    private Joining() {
    }

    /**
     * The Ok to a Login on a version-5 link (id 0): the session's id (16) and its join key (32). Before version 5
     * that Ok is empty ({@link #encode} writes nothing then, {@link #decode} returns {@code null}).
     */
    public record Session(UUID id, byte[] key) {

        public Session {
            Objects.requireNonNull(id, "id");
            if (key.length != KEY_BYTES) {
                throw new IllegalArgumentException("a join key has " + KEY_BYTES + " bytes, not " + key.length);
            }
            key = key.clone();
        }

        @Override
        public byte[] key() {
            return key.clone();
        }

        /** The Ok to Login for a link of {@code version}: empty before version 5. */
        public Frame encode(ByteBufAllocator alloc, int version) {
            if (version < SINCE) {
                return Frame.ok(Protocol.CONNECTION_ID);
            }
            ByteBuf buf = alloc.buffer(SESSION_ID_BYTES + KEY_BYTES);
            writeId(buf, id);
            buf.writeBytes(key);
            return new Frame(FrameKind.OK, Protocol.CONNECTION_ID, buf);
        }

        /** The session an Ok to Login of a link of {@code version} names, {@code null} before version 5. */
        public static Session decode(Frame frame, int version) {
            ByteBuf payload = frame.checkedContent(FrameKind.OK);
            if (version < SINCE) {
                if (payload.isReadable()) {
                    throw new ProtocolException("Ok to Login of version " + version + " must be empty, got "
                            + payload.readableBytes() + " bytes");
                }
                return null;
            }
            exactly(payload, SESSION_ID_BYTES + KEY_BYTES, "Ok to Login");
            int at = payload.readerIndex();
            byte[] key = new byte[KEY_BYTES];
            payload.getBytes(at + SESSION_ID_BYTES, key);
            return new Session(readId(payload, at), key);
        }

        @Override
        public String toString() {
            return "Session(" + id + ")"; // never the key
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof Session s && s.id.equals(id) && MessageDigest.isEqual(s.key, key);
        }

        @Override
        public int hashCode() {
            return id.hashCode();
        }
    }

    /** Join (agent to gateway, id 0), instead of Login: the id of the session this link joins (16). */
    public record Join(UUID session) {

        public Join {
            Objects.requireNonNull(session, "session");
        }

        public Frame encode(ByteBufAllocator alloc) {
            return new Frame(FrameKind.JOIN, Protocol.CONNECTION_ID,
                    writeId(alloc.buffer(SESSION_ID_BYTES), session));
        }

        public static Join decode(Frame frame) {
            ByteBuf payload = frame.checkedContent(FrameKind.JOIN);
            exactly(payload, SESSION_ID_BYTES, "Join");
            return new Join(readId(payload, payload.readerIndex()));
        }
    }

    /** Challenge (gateway to agent, id 0): 16 random bytes, the answer to a Join, made anew for every Join. */
    public record Challenge(byte[] nonce) {

        public Challenge {
            if (nonce.length != CHALLENGE_BYTES) {
                throw new IllegalArgumentException("a challenge has " + CHALLENGE_BYTES + " bytes");
            }
            nonce = nonce.clone();
        }

        @Override
        public byte[] nonce() {
            return nonce.clone();
        }

        /** A fresh challenge from a {@link SecureRandom}. */
        public static Challenge random() {
            byte[] nonce = new byte[CHALLENGE_BYTES];
            RANDOM.nextBytes(nonce);
            return new Challenge(nonce);
        }

        public Frame encode(ByteBufAllocator alloc) {
            return new Frame(FrameKind.CHALLENGE, Protocol.CONNECTION_ID,
                    alloc.buffer(CHALLENGE_BYTES).writeBytes(nonce));
        }

        public static Challenge decode(Frame frame) {
            return new Challenge(fixed(frame, FrameKind.CHALLENGE, CHALLENGE_BYTES, "Challenge"));
        }
    }

    /**
     * Proof (agent to gateway, id 0): HMAC-SHA256, under the session's join key, of the ASCII label
     * {@code diglett join v5}, the session id and the challenge.
     */
    public record Proof(byte[] mac) {

        public Proof {
            if (mac.length != PROOF_BYTES) {
                throw new IllegalArgumentException("a proof has " + PROOF_BYTES + " bytes");
            }
            mac = mac.clone();
        }

        /** The proof for {@code challenge}, made with {@code session}'s key. */
        public static Proof of(Session session, Challenge challenge) {
            return new Proof(hmac(session.key, session.id(), challenge.nonce));
        }

        /** Whether this is the proof for {@code challenge} under {@code key} (compared in constant time). */
        public boolean proves(byte[] key, UUID session, Challenge challenge) {
            return MessageDigest.isEqual(mac, hmac(key, session, challenge.nonce));
        }

        public Frame encode(ByteBufAllocator alloc) {
            return new Frame(FrameKind.PROOF, Protocol.CONNECTION_ID, alloc.buffer(PROOF_BYTES).writeBytes(mac));
        }

        public static Proof decode(Frame frame) {
            return new Proof(fixed(frame, FrameKind.PROOF, PROOF_BYTES, "Proof"));
        }

        @Override
        public String toString() {
            return "Proof";
        }
    }

    /** The Ok to a Proof (gateway to agent, id 0): the link's number in its session (4); the login's link is 1. */
    public record Joined(int link) {

        public Frame encode(ByteBufAllocator alloc) {
            return new Frame(FrameKind.OK, Protocol.CONNECTION_ID, alloc.buffer(4).writeInt(link));
        }

        public static Joined decode(Frame frame) {
            ByteBuf payload = frame.checkedContent(FrameKind.OK);
            exactly(payload, 4, "Ok to a Proof");
            return new Joined(payload.getInt(payload.readerIndex()));
        }
    }

    /**
     * A session's join key, derived from the gateway's {@code secret} and the session id: HMAC-SHA256 of the ASCII
     * label {@code diglett session key} and the id. A gateway needs to keep only its secret, and every gateway that
     * shares it can check a proof for any session.
     */
    public static byte[] key(byte[] secret, UUID session) {
        ByteBuf id = writeId(Unpooled.buffer(SESSION_ID_BYTES), session);
        try {
            Mac hmac = Mac.getInstance("HmacSHA256");
            hmac.init(new SecretKeySpec(secret, "HmacSHA256"));
            hmac.update("diglett session key".getBytes(StandardCharsets.US_ASCII));
            hmac.update(id.array(), id.arrayOffset(), SESSION_ID_BYTES);
            return hmac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available", e);
        }
    }

    /** A new random session id. */
    public static UUID newSessionId() {
        return new UUID(RANDOM.nextLong(), RANDOM.nextLong());
    }

    /** 32 random bytes, a gateway's secret for {@link #key}. */
    public static byte[] newSecret() {
        byte[] secret = new byte[KEY_BYTES];
        RANDOM.nextBytes(secret);
        return secret;
    }

    private static byte[] hmac(byte[] key, UUID session, byte[] nonce) {
        ByteBuf id = writeId(Unpooled.buffer(SESSION_ID_BYTES), session);
        try {
            Mac hmac = Mac.getInstance("HmacSHA256");
            hmac.init(new SecretKeySpec(key, "HmacSHA256"));
            hmac.update(PROOF_LABEL);
            hmac.update(id.array(), id.arrayOffset(), SESSION_ID_BYTES);
            hmac.update(nonce);
            return hmac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available", e);
        }
    }

    private static ByteBuf writeId(ByteBuf buf, UUID id) {
        return buf.writeLong(id.getMostSignificantBits()).writeLong(id.getLeastSignificantBits());
    }

    private static UUID readId(ByteBuf payload, int at) {
        return new UUID(payload.getLong(at), payload.getLong(at + 8));
    }

    /** The payload of a {@code kind} frame that must carry exactly {@code bytes} bytes, copied out. */
    private static byte[] fixed(Frame frame, FrameKind kind, int bytes, String what) {
        ByteBuf payload = frame.checkedContent(kind);
        exactly(payload, bytes, what);
        byte[] copy = new byte[bytes];
        payload.getBytes(payload.readerIndex(), copy);
        return copy;
    }

    private static void exactly(ByteBuf payload, int bytes, String what) {
        if (payload.readableBytes() != bytes) {
            throw new ProtocolException(what + " must carry " + bytes + " bytes, got " + payload.readableBytes());
        }
    }
}
