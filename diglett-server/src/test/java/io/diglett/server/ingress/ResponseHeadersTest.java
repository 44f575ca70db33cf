package io.diglett.server.ingress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.diglett.protocol.Policy;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Response header rules: heads split across reads are rewritten whole; what cannot be followed is never passed. */
class ResponseHeadersTest {

    private static final List<Policy.Header> RULES = List.of(new Policy.Header("X-Frame-Options", "DENY"));

    private static ByteBuf bytes(String text) {
        return Unpooled.copiedBuffer(text, StandardCharsets.ISO_8859_1);
    }

    private static String text(List<ByteBuf> pieces) {
        StringBuilder out = new StringBuilder();
        pieces.forEach(piece -> {
            out.append(piece.toString(StandardCharsets.ISO_8859_1));
            piece.release();
        });
        return out.toString();
    }

    @Test
    void aHeadSplitAcrossReadsIsRewrittenAndTheBodyPasses() {
        ResponseTracker tracker = new ResponseTracker();
        tracker.requestSent(false);
        ResponseHeaders headers = new ResponseHeaders(RULES, ByteBufAllocator.DEFAULT);
        assertEquals("", text(headers.rewrite(bytes("HTTP/1.1 200 OK\r\nX-Frame-"), tracker)), "held");
        assertEquals("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Frame-Options: DENY\r\n\r\nok",
                text(headers.rewrite(bytes("Options: SAMEORIGIN\r\nContent-Length: 2\r\n\r\nok"),
                        tracker)), "the backend's header dropped, the rule's added");
    }

    @Test
    void aHeadTheTrackerCannotReadClosesTheConnectionInsteadOfPassing() {
        ResponseTracker tracker = new ResponseTracker();
        tracker.requestSent(false);
        ResponseHeaders headers = new ResponseHeaders(RULES, ByteBufAllocator.DEFAULT);
        assertThrows(IllegalStateException.class, () -> headers.rewrite(bytes("HTTP/1.1 200 OK\r\nno colon here\r\n"),
                tracker));
        headers.release();
        ResponseHeaders big = new ResponseHeaders(RULES, ByteBufAllocator.DEFAULT);
        ResponseTracker other = new ResponseTracker();
        other.requestSent(false);
        assertThrows(IllegalStateException.class, () -> big.rewrite(bytes("HTTP/1.1 200 OK\r\n"
                + ("X-Long: " + "a".repeat(200) + "\r\n").repeat(400)), other), "over 64 KiB of head");
        big.release();
    }
}
