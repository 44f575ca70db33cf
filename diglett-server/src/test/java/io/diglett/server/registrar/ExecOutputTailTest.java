package io.diglett.server.registrar;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** What the exec registrar keeps of a hook's output: its end, with a bounded buffer whatever the hook prints. */
class ExecOutputTailTest {

    @Test
    void shortOutputIsKeptWhole() {
        assertEquals("done\n", CommandOutput.tail(new ByteArrayInputStream("done\n".getBytes(StandardCharsets.UTF_8))));
    }

    /**
     * 2 GiB of output (more than one Java array holds: reading it whole failed with OutOfMemoryError), then the
     * line that matters: the tail is that line's end, in a few KiB of memory.
     */
    @Test
    void endlessOutputKeepsOnlyItsEnd() {
        String end = "x".repeat(CommandOutput.OUTPUT_TAIL - 6) + " last\n";
        byte[] endBytes = end.getBytes(StandardCharsets.UTF_8);
        long total = (1L << 31) + endBytes.length;
        InputStream endless = new InputStream() {
            private long position;

            @Override
            public int read() {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (position >= total) {
                    return -1;
                }
                int n = (int) Math.min(len, total - position);
                long endStart = total - endBytes.length;
                int dots = (int) Math.max(0, Math.min(n, endStart - position));
                java.util.Arrays.fill(b, off, off + dots, (byte) '.');
                for (int i = dots; i < n; i++) {
                    b[off + i] = endBytes[(int) (position + i - endStart)];
                }
                position += n;
                return n;
            }
        };
        assertEquals(end, CommandOutput.tail(endless));
    }
}
