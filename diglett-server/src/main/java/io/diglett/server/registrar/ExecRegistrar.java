package io.diglett.server.registrar;

import io.diglett.protocol.Printable;
import io.diglett.protocol.Reasons;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs an operator's command ({@code /bin/sh -c COMMAND}) for each registration and unregistration, with
 * {@code ACTION} ({@code register} / {@code unregister}), {@code NAME}, {@code PORT} and {@code AGENT} in its
 * environment. Commands run on threads of their own, never on an event loop: those of different names at
 * once (up to the {@code concurrency} option, default {@value RegistrarWorker#DEFAULT_CONCURRENCY}), those of one
 * name one at a time in the order they were asked for, and the unregister of a name that was registered again
 * meanwhile (by a newer link) is not run (see {@link RegistrarWorker}). A register command that exits non-zero or outlives the timeout refuses the
 * registration, with the end of its output as reason ({@linkplain Printable escaped}: it reaches the log and the
 * agent).
 */
final class ExecRegistrar implements Registrar {

    private static final Logger log = LoggerFactory.getLogger(ExecRegistrar.class);

    private final String command;
    private final Duration timeout;
    private final RegistrarWorker worker;

    /** Runs {@code command}, each run within {@code timeout}, up to {@code concurrency} at once (different names). */
    ExecRegistrar(String command, Duration timeout, int concurrency) {
        this.command = command;
        this.timeout = timeout;
        this.worker = new RegistrarWorker("exec", log, concurrency);
    }

    @Override
    public CompletionStage<Void> register(Exposure exposure) {
        return worker.register(exposure, () -> run("register", exposure));
    }

    @Override
    public void unregister(Exposure exposure) {
        worker.unregister(exposure, () -> {
            try {
                run("unregister", exposure);
            } catch (RuntimeException e) {
                log.warn("registrar command failed to unregister '{}': {}", exposure.name(), Reasons.of(e));
            }
        });
    }

    private void run(String action, Exposure exposure) {
        ProcessBuilder builder = new ProcessBuilder(List.of("/bin/sh", "-c", command)).redirectErrorStream(true);
        Map<String, String> env = builder.environment();
        env.put("ACTION", action);
        env.put("NAME", exposure.name());
        env.put("PORT", Integer.toString(exposure.port()));
        env.put("AGENT", String.valueOf(exposure.agent()));
        try {
            Process process = builder.start();
            process.getOutputStream().close();
            CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> tail(process.getInputStream()));
            boolean finished;
            try {
                finished = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                process.destroyForcibly(); // the registrar is closing and cannot wait any longer
                throw e;
            }
            if (!finished) {
                process.destroyForcibly();
                throw new IllegalStateException("registrar command for '" + exposure.name() + "' did not finish"
                        + " within " + timeout.toMillis() + " ms");
            }
            if (process.exitValue() != 0) {
                String said;
                try {
                    said = output.get(1, TimeUnit.SECONDS).strip(); // the pipe ends soon after the process
                } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                    said = "";
                }
                // what the command printed goes to the log and, as the link's error, to the agent: escaped
                throw new IllegalStateException("registrar command exited with " + process.exitValue() + ": "
                        + Printable.of(said));
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot run registrar command: " + Reasons.of(e), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** The last 300 characters the command printed. */
    private static String tail(InputStream in) {
        try {
            String all = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return all.length() <= 300 ? all : all.substring(all.length() - 300);
        } catch (IOException e) {
            return "";
        }
    }

    /** Lets the commands asked for (the unregisters of a shutting-down gateway) run, for a bounded time. */
    @Override
    public void close() {
        worker.close(timeout.plusSeconds(1));
    }
}
