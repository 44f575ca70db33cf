package io.diglett.common.cli;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What SIGTERM and Ctrl-C do to a program: its graceful stop runs, then the process ends with exit code 0,
 * where the JVM would report 143 or 130. Once {@link #disarm disarmed}, the hook does nothing, so that an exit
 * the program chose ({@code System.exit(1)} after a refusal) keeps its code.
 */
public final class ShutdownHook {

    private final AtomicBoolean armed = new AtomicBoolean(true);

    private ShutdownHook() {
    }

    /** Runs {@code stop} on SIGTERM or Ctrl-C (on the thread {@code diglett-shutdown}), then halts with 0. */
    public static ShutdownHook install(Runnable stop) {
        ShutdownHook hook = new ShutdownHook();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (hook.armed.get()) {
                stop.run();
                Runtime.getRuntime().halt(0);
            }
        }, "diglett-shutdown"));
        return hook;
    }

    /** From now on the process exits as the program says: the hook does nothing. */
    public void disarm() {
        armed.set(false);
    }
}
