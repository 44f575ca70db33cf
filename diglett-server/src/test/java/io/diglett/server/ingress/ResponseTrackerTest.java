package io.diglett.server.ingress;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** {@link ResponseTracker}: where responses end, however their bytes are split, and giving up when unsure. */
class ResponseTrackerTest {

    private final ResponseTracker tracker = new ResponseTracker();

    /** Feeds {@code text} in pieces of {@code piece} bytes; the bytes are not consumed. */
    private void feed(String text, int piece) {
        byte[] bytes = text.getBytes(StandardCharsets.ISO_8859_1);
        for (int i = 0; i < bytes.length; i += piece) {
            ByteBuf buf = Unpooled.wrappedBuffer(bytes, i, Math.min(piece, bytes.length - i));
            int before = buf.readableBytes();
            tracker.response(buf);
            assertTrue(buf.readableBytes() == before, "nothing consumed");
        }
    }

    @Test
    void aContentLengthResponseEndsAfterItsBodyHoweverItIsSplit() {
        for (int piece : new int[] {1, 3, 7, 1000}) {
            ResponseTracker fresh = new ResponseTracker();
            assertFalse(fresh.inProgress());
            fresh.requestSent(false);
            assertTrue(fresh.inProgress(), "a request is owed an answer");
            String head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCONTENT-LENGTH: 10\r\n\r\n";
            byte[] bytes = (head + "0123456789").getBytes(StandardCharsets.ISO_8859_1);
            for (int i = 0; i < bytes.length; i += piece) {
                assertTrue(fresh.inProgress(), "in the middle, piece " + piece);
                fresh.response(Unpooled.wrappedBuffer(bytes, i, Math.min(piece, bytes.length - i)));
            }
            assertFalse(fresh.inProgress(), "piece " + piece);
        }
    }

    @Test
    void chunkedResponsesEndAfterTheLastChunkAndTrailers() {
        tracker.requestSent(false);
        feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;ext=1\r\nhello\r\n", 4);
        assertTrue(tracker.inProgress(), "a pause between chunks is within the response");
        feed("10\r\n0123456789abcdef\r\n0\r\nX-Trailer: yes\r\n", 3);
        assertTrue(tracker.inProgress());
        feed("\r\n", 1);
        assertFalse(tracker.inProgress());
    }

    @Test
    void headNoContentNotModifiedAndInterimAnswersHaveNoBody() {
        tracker.requestSent(true);
        tracker.requestSent(false);
        tracker.requestSent(false);
        feed("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", 5); // HEAD: the length is not sent
        assertTrue(tracker.inProgress(), "two more owed");
        feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 9);
        assertTrue(tracker.inProgress(), "one more owed");
        feed("HTTP/1.0 304 Not Modified\r\nContent-Length: 12\r\n\r\n", 100);
        assertFalse(tracker.inProgress());
    }

    @Test
    void pipelinedResponsesAreCountedOneByOne() {
        tracker.requestSent(false);
        tracker.requestSent(false);
        feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab", 64);
        assertTrue(tracker.inProgress(), "the second is still owed");
        feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 64);
        assertFalse(tracker.inProgress());
    }

    @Test
    void whatItCannotFollowKeepsTheConnectionBusyForGood() {
        ResponseTracker unasked = new ResponseTracker();
        unasked.response(Unpooled.copiedBuffer("HTTP/1.1 200 OK\r\n", StandardCharsets.US_ASCII));
        assertTrue(unasked.inProgress(), "a response nobody asked for");

        tracker.requestSent(false);
        feed("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until the end", 64);
        assertTrue(tracker.inProgress(), "delimited by the connection's end");

        ResponseTracker conflicting = new ResponseTracker();
        conflicting.requestSent(false);
        conflicting.response(Unpooled.copiedBuffer("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                StandardCharsets.US_ASCII));
        assertTrue(conflicting.inProgress(), "two lengths");

        ResponseTracker switched = new ResponseTracker();
        switched.requestSent(false);
        switched.response(Unpooled.copiedBuffer("HTTP/1.1 101 Switching Protocols\r\n\r\n", StandardCharsets.US_ASCII));
        assertTrue(switched.inProgress(), "upgraded");

        ResponseTracker many = new ResponseTracker();
        for (int i = 0; i <= ResponseTracker.MAX_OWED; i++) {
            many.requestSent(false);
        }
        for (int i = 0; i <= ResponseTracker.MAX_OWED; i++) {
            many.response(Unpooled.copiedBuffer("HTTP/1.1 204 No Content\r\n\r\n", StandardCharsets.US_ASCII));
        }
        assertTrue(many.inProgress(), "more requests in flight than it counts");
    }
}
