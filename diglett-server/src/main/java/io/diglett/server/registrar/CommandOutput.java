package io.diglett.server.registrar;

import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.nio.charset.StandardCharsets;

/** What an operator's command (the exec registrar, the ACME DNS hook) printed: its end, read with a bounded buffer. */
public final class CommandOutput {

    /** Characters kept of a command's output. */
    public static final int OUTPUT_TAIL = 300;

    private CommandOutput() {
    }

    /**
     * The last {@value #OUTPUT_TAIL} characters the command printed, read with a bounded buffer: a hook that
     * prints without end until its timeout costs a few KiB here, not its whole output.
     */
    public static String tail(InputStream in) {
        int keep = OUTPUT_TAIL * 4; // UTF-8 takes at most 4 bytes a character
        byte[] last = new byte[keep];
        byte[] chunk = new byte[8192];
        int length = 0;
        try {
            int n;
            while ((n = in.read(chunk)) >= 0) {
                if (n >= keep) {
                    System.arraycopy(chunk, n - keep, last, 0, keep);
                    length = keep;
                } else {
                    int drop = Math.max(0, length + n - keep);
                    System.arraycopy(last, drop, last, 0, length - drop);
                    length -= drop;
                    System.arraycopy(chunk, 0, last, length, n);
                    length += n;
                }
            }
        } catch (IOException e) {
            // the pipe broke: what came until then
        }
        String all = new String(last, 0, length, StandardCharsets.UTF_8);
        return all.length() <= OUTPUT_TAIL ? all : all.substring(all.length() - OUTPUT_TAIL);
    }

    /** What the command printed (its end), once its pipe ends, soon after the process; empty if it does not. */
    public static String said(CompletableFuture<String> output) {
        try {
            return output.get(1, TimeUnit.SECONDS).strip();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }
}
