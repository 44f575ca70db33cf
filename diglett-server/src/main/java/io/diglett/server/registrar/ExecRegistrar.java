package io.diglett.server.registrar;

import io.diglett.protocol.Printable;
import io.diglett.protocol.Reasons;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
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
 * meanwhile (by a newer link) is not run (see {@link RegistrarWorker}).
 *
 * <p>The command gets a minimal environment, not the gateway's: {@code PATH}, the four variables above, and the
 * gateway's variables the operator names in the {@code env} option (so secrets the gateway was started with stay
 * out of it unless asked for). What it prints goes to the gateway's log ({@linkplain Printable escaped}); a
 * register command that exits non-zero or outlives the timeout refuses the registration, and the agent is told
 * only that the registrar failed, never what the command printed.
 */
final class ExecRegistrar implements Registrar {

    private static final Logger log = LoggerFactory.getLogger(ExecRegistrar.class);

    /** The variables the gateway sets itself; {@code env} cannot name them. */
    static final Set<String> OWN = Set.of("ACTION", "NAME", "PORT", "AGENT", "PATH");
    /** The command's {@code PATH} when the gateway has none. */
    static final String DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";
    /** What the command printed that reaches the log: its last characters. */

    private final String command;
    private final Duration timeout;
    private final Map<String, String> environment;
    private final RegistrarWorker worker;

    /**
     * Runs {@code command}, each run within {@code timeout}, up to {@code concurrency} at once (different names),
     * with {@code PATH} and the variables named in {@code passed} taken from {@code gateway} (the gateway's
     * environment).
     */
    ExecRegistrar(String command, Duration timeout, int concurrency, List<String> passed,
                  Map<String, String> gateway) {
        this.command = command;
        this.timeout = timeout;
        Map<String, String> env = new TreeMap<>();
        env.put("PATH", gateway.getOrDefault("PATH", DEFAULT_PATH));
        for (String name : passed) {
            if (!name.matches("[A-Za-z_][A-Za-z0-9_]*")) {
                throw new IllegalArgumentException("the exec registrar's env names environment variables"
                        + " (letters, digits, _), not '" + name + "'");
            }
            if (OWN.contains(name)) {
                throw new IllegalArgumentException("the exec registrar sets " + name + " itself; env cannot"
                        + " name it");
            }
            String value = gateway.get(name);
            if (value == null) {
                log.warn("the exec registrar's env names {}, which the gateway's environment does not have", name);
            } else {
                env.put(name, value);
            }
        }
        this.environment = Map.copyOf(env);
        this.worker = new RegistrarWorker("exec", log, concurrency);
    }

    /** The variables every run gets besides ACTION, NAME, PORT and AGENT (tests). */
    Map<String, String> environment() {
        return environment;
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
        Map<String, String> env = new java.util.HashMap<>(environment);
        env.put("ACTION", action);
        env.put("NAME", exposure.name());
        env.put("PORT", Integer.toString(exposure.port()));
        env.put("AGENT", String.valueOf(exposure.agent()));
        try {
            CommandOutput.Ran ran = CommandOutput.run(command, env, timeout);
            // what the command printed may be anything (paths, secrets): the log gets it, escaped; the agent not
            if (!ran.finished()) {
                log.warn("registrar command ({} '{}') did not finish within {} ms: {}", action, exposure.name(),
                        timeout.toMillis(), Printable.of(ran.said()));
                throw new RegistrarException("the registrar did not finish in time");
            }
            if (ran.exitCode() != 0) {
                log.warn("registrar command ({} '{}') exited with {}: {}", action, exposure.name(), ran.exitCode(),
                        Printable.of(ran.said()));
                throw new RegistrarException("the registrar refused it");
            }
            if (!ran.said().isEmpty()) {
                log.debug("registrar command ({} '{}'): {}", action, exposure.name(), Printable.of(ran.said()));
            }
        } catch (IOException e) {
            log.warn("cannot run registrar command for '{}': {}", exposure.name(), Reasons.of(e));
            throw new RegistrarException("the registrar could not run", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistrarException("interrupted", e);
        }
    }

    /** Lets the commands asked for (the unregisters of a shutting-down gateway) run, for a bounded time. */
    @Override
    public void close() {
        worker.close(timeout.plusSeconds(1));
    }
}
