package io.diglett.server.registrar;

import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.nio.charset.StandardCharsets;

/**
 * Runs an operator's command (the exec registrar, the ACME DNS hook) with {@code /bin/sh -c}, the environment it is
 * given and nothing else, a timeout, and what it printed read with a bounded buffer (its end).
 */
public final class CommandOutput {

    /** How a command ended: within its time or not, its exit code, what it printed (its end, not escaped). */
    public record Ran(boolean finished, int exitCode, String said) {
        public boolean succeeded() {
            return finished && exitCode == 0;
        }
    }

    /**
     * Runs {@code command} with exactly {@code env}, stdin closed, stdout and stderr together; waits up to
     * {@code timeout}, then kills it. Interrupted, it kills it and throws.
     *
     * @throws IOException when it cannot be started
     */
    public static Ran run(String command, java.util.Map<String, String> env, java.time.Duration timeout)
            throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(java.util.List.of("/bin/sh", "-c", command))
                .redirectErrorStream(true);
        builder.environment().clear();
        builder.environment().putAll(env);
        Process process = builder.start();
        process.getOutputStream().close();
        CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> tail(process.getInputStream()));
        boolean finished;
        try {
            finished = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            process.destroyForcibly(); // the caller is closing and cannot wait any longer
            throw e;
        }
        if (!finished) {
            process.destroyForcibly();
        }
        return new Ran(finished, finished ? process.exitValue() : -1, said(output));
    }

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
