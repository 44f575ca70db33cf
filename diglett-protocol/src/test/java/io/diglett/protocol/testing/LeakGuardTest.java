package io.diglett.protocol.testing;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The guard itself: a buffer dropped without release is reported, so a leak would fail the build. */
class LeakGuardTest {

    @Test
    void reportsABufferThatWasNeverReleased() throws Exception {
        LeakGuard.collectLeaks();
        leakOne();
        List<String> leaks = List.of();
        for (int i = 0; i < 50 && leaks.isEmpty(); i++) {
            leaks = LeakGuard.collectLeaks();
        }
        assertFalse(leaks.isEmpty(), "the leaked buffer was not reported");
        assertTrue(leaks.get(0).contains("leakOne"), "the report names where the buffer was touched");
    }

    private static void leakOne() {
        ByteBuf buf = ByteBufAllocator.DEFAULT.directBuffer(64);
        buf.writeLong(42);
        buf.touch("leakOne");
    }
}
