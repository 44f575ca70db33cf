package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** The payloads of a link joining a session (docs/protocol.md, section 5.1), and what a proof proves. */
class JoiningTest {

    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

    @Test
    void aProofMadeWithTheSessionsKeyProvesThatChallengeOnly() {
        byte[] secret = Joining.newSecret();
        UUID id = Joining.newSessionId();
        Joining.Session session = new Joining.Session(id, Joining.key(secret, id));
        Joining.Challenge challenge = Joining.Challenge.random();
        Joining.Proof proof = Joining.Proof.of(session, challenge);

        assertTrue(proof.proves(Joining.key(secret, id), id, challenge), "the gateway derives the same key");
        assertFalse(proof.proves(Joining.key(secret, id), id, Joining.Challenge.random()),
                "a recorded proof does not answer a new challenge");
        UUID other = Joining.newSessionId();
        assertFalse(proof.proves(Joining.key(secret, other), other, challenge), "nor another session's");
        assertFalse(proof.proves(Joining.key(Joining.newSecret(), id), id, challenge), "nor another gateway's");
        assertNotEquals(UUID.randomUUID(), id);
    }

    @Test
    void keysDependOnTheSecretAndTheSession() {
        byte[] secret = Joining.newSecret();
        UUID id = Joining.newSessionId();
        assertArrayEquals(Joining.key(secret, id), Joining.key(secret.clone(), id));
        assertFalse(java.util.Arrays.equals(Joining.key(secret, id), Joining.key(secret, Joining.newSessionId())));
        assertEquals(Joining.KEY_BYTES, Joining.key(secret, id).length);
    }

    @Test
    void theSessionRoundTripsFromVersion5AndIsAbsentBefore() {
        UUID id = Joining.newSessionId();
        Joining.Session session = new Joining.Session(id, Joining.key(Joining.newSecret(), id));
        Frame v5 = session.encode(ALLOC, 5);
        try {
            assertEquals(session, Joining.Session.decode(v5, 5));
        } finally {
            v5.release();
        }
        Frame v4 = session.encode(ALLOC, 4);
        assertNull(Joining.Session.decode(v4, 4));
        assertTrue(session.toString().indexOf(java.util.HexFormat.of().formatHex(session.key())) < 0,
                "the key is never printed");
    }

    @Test
    void wrongLengthsAreProtocolErrors() {
        Frame shortOk = new Frame(FrameKind.OK, 0, Unpooled.wrappedBuffer(new byte[47]));
        assertThrows(ProtocolException.class, () -> Joining.Session.decode(shortOk, 5));
        Frame oldOk = new Frame(FrameKind.OK, 0, Unpooled.wrappedBuffer(new byte[1]));
        assertThrows(ProtocolException.class, () -> Joining.Session.decode(oldOk, 4));
        Frame joined = new Frame(FrameKind.OK, 0, Unpooled.wrappedBuffer(new byte[3]));
        assertThrows(ProtocolException.class, () -> Joining.Joined.decode(joined));
        Frame login = new Frame(FrameKind.LOGIN, 0, Unpooled.wrappedBuffer(new byte[16]));
        assertThrows(IllegalArgumentException.class, () -> Joining.Join.decode(login), "a Login is not a Join");
    }

    @Test
    void joinChallengeProofAndJoinedRoundTrip() {
        UUID id = Joining.newSessionId();
        Frame join = new Joining.Join(id).encode(ALLOC);
        try {
            assertEquals(id, Joining.Join.decode(join).session());
        } finally {
            join.release();
        }
        Joining.Challenge challenge = Joining.Challenge.random();
        Frame c = challenge.encode(ALLOC);
        try {
            assertArrayEquals(challenge.nonce(), Joining.Challenge.decode(c).nonce());
        } finally {
            c.release();
        }
        Joining.Session session = new Joining.Session(id, new byte[32]);
        Joining.Proof proof = Joining.Proof.of(session, challenge);
        Frame p = proof.encode(ALLOC);
        try {
            assertTrue(Joining.Proof.decode(p).proves(new byte[32], id, challenge));
        } finally {
            p.release();
        }
        Frame ok = new Joining.Joined(3).encode(ALLOC);
        try {
            assertEquals(3, Joining.Joined.decode(ok).link());
        } finally {
            ok.release();
        }
    }
}
