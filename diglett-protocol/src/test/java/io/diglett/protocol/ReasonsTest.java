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
        assertEquals("connect(..) failed: Connection refused: /127.0.0.1:9",
                Reasons.of(new IOException("io_uring connect(..) failed with error(-111): Connection refused: "
                        + "/127.0.0.1:9")));
        assertEquals("IOException: connect(..) failed: Connection refused", Reasons.of(new IOException(null,
                new IOException("io_uring connect(..) failed with error(-111): Connection refused"))));
        assertEquals("connect(..) failed: Connection refused", Reasons.of(new IOException(
                "connect(..) failed: Connection refused")), "epoll's, as it was");
        assertEquals("the io_uring ring is full", Reasons.of(new IOException("the io_uring ring is full")));
    }
}
