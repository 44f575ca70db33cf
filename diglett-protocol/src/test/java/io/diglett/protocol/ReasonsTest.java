package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import org.junit.jupiter.api.Test;

class ReasonsTest {

    @Test
    void aFailureWithoutAMessageIsNamedByItsCauseOrItsClass() {
        assertEquals("unknown cause", Reasons.of(null));
        assertEquals("NullPointerException", Reasons.of(new NullPointerException()));
        assertEquals("IOException: disk gone", Reasons.of(new IOException(null, new IllegalStateException("disk gone"))));
    }

    @Test
    void ioUringsWordingIsEpollsSoReasonsDoNotDependOnTheTransport() {
        // epoll's, as Netty's Errors.newConnectException0 words it; io_uring's adds its name in front
        String epoll = "connect(..) failed with error(-111): Connection refused: /127.0.0.1:9";
        assertEquals(epoll, Reasons.of(new IOException(epoll)));
        assertEquals(epoll, Reasons.of(new IOException("io_uring " + epoll)));
        assertEquals("IOException: read(..) failed with error(-104): Connection reset by peer", Reasons.of(
                new IOException(null, new IOException("io_uring read(..) failed with error(-104): Connection reset "
                        + "by peer"))));
        assertEquals("the io_uring ring is full", Reasons.of(new IOException("the io_uring ring is full")));
    }
}
