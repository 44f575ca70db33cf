package io.diglett.protocol.node;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.diglett.protocol.ProtocolException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The forwarding handshake between nodes: what an Ask carries, and what it must be refused for. */
class NodeForwardTest {

    private static final byte[] SECRET = "sixteen bytes at least".getBytes(StandardCharsets.US_ASCII);
    private static final NodeForward.Ask ASK = new NodeForward.Ask("shop", 1234567890123L,
            new InetSocketAddress("203.0.113.7", 51000), new InetSocketAddress("2001:db8::1", 443));

    private static NodeForward.Ask roundTrip(NodeForward.Ask ask, byte[] nonce, byte[] secret, byte[] checkNonce,
                                             byte[] checkSecret, int flip) {
        ByteBuf bytes = ask.encode(UnpooledByteBufAllocator.DEFAULT, nonce, secret);
        try {
            int length = bytes.readUnsignedShort();
            assertEquals(bytes.readableBytes(), length);
            if (flip >= 0) {
                bytes.setByte(bytes.readerIndex() + flip, bytes.getByte(bytes.readerIndex() + flip) ^ 1);
            }
            return NodeForward.Ask.decode(bytes, checkNonce, checkSecret);
        } finally {
            bytes.release();
        }
    }

    @Test
    void anAskCarriesTheNameTheClaimAndTheClientsAddresses() {
        byte[] nonce = new byte[NodeForward.NONCE_LENGTH];
        ByteBuf hello = NodeForward.hello(UnpooledByteBufAllocator.DEFAULT, nonce);
        try {
            assertArrayEquals(nonce, NodeForward.readHello(hello));
        } finally {
            hello.release();
        }
        assertEquals(ASK, roundTrip(ASK, nonce, SECRET, nonce, SECRET, -1));
        NodeForward.Ask probe = NodeForward.Ask.probe();
        assertEquals(probe, roundTrip(probe, nonce, SECRET, nonce, SECRET, -1));
        assertEquals(false, probe.equals(NodeForward.Ask.probe()), "every Ask has a challenge of its own");
        NodeForward.Ask alive = NodeForward.Ask.alive("shop", 42);
        assertEquals(alive, roundTrip(alive, nonce, SECRET, nonce, SECRET, -1));
    }

    @Test
    void anAskOfAnotherSecretOrNonceOrChangedInAnyByteIsRefused() {
        byte[] nonce = new byte[NodeForward.NONCE_LENGTH];
        byte[] other = nonce.clone();
        other[0] = 1;
        assertEquals("forward ask not made with this cluster's secret", assertThrows(ProtocolException.class,
                () -> roundTrip(ASK, nonce, "another secret, long enough".getBytes(StandardCharsets.US_ASCII), nonce,
                        SECRET, -1)).getMessage());
        assertThrows(ProtocolException.class, () -> roundTrip(ASK, nonce, SECRET, other, SECRET, -1));
        for (int at = 0; at < 40; at++) {
            int flip = at;
            assertThrows(ProtocolException.class, () -> roundTrip(ASK, nonce, SECRET, nonce, SECRET, flip),
                    "byte " + at + " changed");
        }
    }

    @Test
    void theAnswersANodeActsOnCarryAMacOfTheSecretTheNonceAndTheAsksChallenge() {
        byte[] nonce = new byte[NodeForward.NONCE_LENGTH];
        nonce[3] = 9;
        NodeForward.Ask probe = NodeForward.Ask.probe();
        ByteBuf answer = NodeForward.probed(UnpooledByteBufAllocator.DEFAULT, true, 250, nonce, probe, SECRET);
        try {
            int length = answer.readableBytes() - NodeForward.ANSWER_MAC_LENGTH;
            byte[] given = new byte[NodeForward.ANSWER_MAC_LENGTH];
            answer.getBytes(length, given);
            assertArrayEquals(NodeForward.answerMac(SECRET, nonce, probe, answer, 0, length), given);
            byte[] other = "another secret, long enough".getBytes(StandardCharsets.US_ASCII);
            assertEquals(false, java.util.Arrays.equals(NodeForward.answerMac(other, nonce, probe, answer, 0, length),
                    given));
            assertEquals(false, java.util.Arrays.equals(NodeForward.answerMac(SECRET, new byte[16], probe, answer, 0,
                    length), given), "another connection's nonce");
            // the holder's nonce replayed to the asker (by someone who saw an exchange) with its recorded answer:
            // the asker's new challenge makes it fail
            assertEquals(false, java.util.Arrays.equals(NodeForward.answerMac(SECRET, nonce, NodeForward.Ask.probe(),
                    answer, 0, length), given), "another Ask's challenge");
            String reason = answer.toString(3, length - 3, StandardCharsets.UTF_8);
            assertEquals("store up 250", reason);
            assertEquals(250, NodeForward.heardMillisAgo(reason));
            assertEquals(-1, NodeForward.heardMillisAgo(NodeForward.STORE_DOWN));
        } finally {
            answer.release();
        }
    }

    @Test
    void aHelloThatIsNotANodesOrOfAnotherVersionIsRefused() {
        ByteBuf http = Unpooled.copiedBuffer("HTTP/1.1 400 Bad Req", StandardCharsets.US_ASCII);
        assertEquals("not a diglett node (no forwarding hello)",
                assertThrows(ProtocolException.class, () -> NodeForward.readHello(http)).getMessage());
        ByteBuf later = Unpooled.buffer().writeBytes(NodeForward.MAGIC).writeByte(2)
                .writeBytes(new byte[NodeForward.NONCE_LENGTH]);
        assertEquals("the holder node speaks forwarding version 2, this node 1: upgrade the older node",
                assertThrows(ProtocolException.class, () -> NodeForward.readHello(later)).getMessage());
    }

    @Test
    void anAskOutsideItsBoundsIsRefusedBeforeItsMacIsComputed() {
        ByteBuf tooLong = Unpooled.buffer().writeZero(NodeForward.MAX_ASK + 1);
        assertEquals("forward ask of " + (NodeForward.MAX_ASK + 1) + " bytes",
                assertThrows(ProtocolException.class, () -> NodeForward.Ask.decode(tooLong, new byte[16], SECRET))
                        .getMessage());
        ByteBuf tooShort = Unpooled.buffer().writeZero(10);
        assertThrows(ProtocolException.class, () -> NodeForward.Ask.decode(tooShort, new byte[16], SECRET));
    }
}
