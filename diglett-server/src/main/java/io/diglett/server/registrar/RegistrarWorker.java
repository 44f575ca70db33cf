package io.diglett.server.registrar;

import io.diglett.server.config.Plugins;

import io.diglett.protocol.Reasons;
import io.diglett.server.registrar.Registrar.Exposure;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;

/**
 * The thread a built-in registrar does its slow work on, which keeps a name's registrations in order: requests
 * run one at a time, in the order they were made, never on an event loop, with at most {@link #MAX_QUEUED}
 * waiting.
 *
 * <p>Order alone is not enough: when a name goes to a new link, the new link's register may be made before the
 * old link's unregister (the name is released before its old link withdraws it). So the worker remembers which
 * exposure it last exposed for each name, and an unregister of any other exposure of that name is skipped: the
 * old link's withdrawal never undoes the new link's registration. Exposures are told apart by identity, the
 * gateway giving {@link Registrar#unregister} the very object it gave {@link Registrar#register}. An unregister
 * of a name with no exposure on record (never exposed here, or its last register failed) is carried out: it is
 * idempotent, and what a failed register left is unknown.
 */
final class RegistrarWorker {

    /** Requests that may wait; more are refused (registers fail, unregisters are logged as not done). */
    static final int MAX_QUEUED = 65_536;

    /** A registrar's work for one request. */
    @FunctionalInterface
    interface Work {
        void run() throws Exception;
    }

    private final String kind;
    private final Logger log;
    private final ExecutorService runner;
    /** Per name, the exposure the last successful register exposed; only touched on the runner's thread. */
    private final Map<String, Exposure> exposed = new HashMap<>();

    /** A worker for the registrar called {@code kind} ({@code exec}, ...), logging to {@code log}. */
    RegistrarWorker(String kind, Logger log) {
        this.kind = kind;
        this.log = log;
        this.runner = Plugins.worker("diglett-registrar-" + kind, MAX_QUEUED);
    }

    /** Runs {@code expose} for {@code exposure} after every earlier request; the stage fails as it fails. */
    CompletionStage<Void> register(Exposure exposure, Work expose) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        try {
            runner.execute(new Request(done, () -> {
                try {
                    expose.run();
                } catch (Throwable e) {
                    exposed.remove(exposure.name()); // what is exposed now is unknown: a later unregister runs
                    done.completeExceptionally(e);
                    return;
                }
                Exposure replaced = exposed.put(exposure.name(), exposure);
                if (replaced != null && replaced != exposure) {
                    log.debug("the {} registrar exposes '{}' for {} now, no longer for {}", kind, exposure.name(),
                            exposure.agent(), replaced.agent());
                }
                done.complete(null);
            }));
        } catch (RejectedExecutionException e) {
            done.completeExceptionally(new IllegalStateException(refusal()));
        }
        return done;
    }

    /**
     * Runs {@code withdraw} for {@code exposure} after every earlier request, unless a newer exposure of the
     * name has been exposed meanwhile; a failure is logged.
     */
    void unregister(Exposure exposure, Work withdraw) {
        try {
            runner.execute(new Request(null, () -> {
                Exposure current = exposed.get(exposure.name());
                if (current != null && current != exposure) {
                    log.debug("the {} registrar keeps '{}' exposed: it was registered again (for {}) before {}"
                            + " withdrew it", kind, exposure.name(), current.agent(), exposure.agent());
                    return;
                }
                exposed.remove(exposure.name());
                try {
                    withdraw.run();
                } catch (Exception e) {
                    log.warn("the {} registrar failed to withdraw '{}': {}", kind, exposure.name(), Reasons.of(e));
                }
            }));
        } catch (RejectedExecutionException e) {
            log.warn("{}: '{}' stays exposed", refusal(), exposure.name());
        }
    }

    private String refusal() {
        return runner.isShutdown() ? "the " + kind + " registrar is closed"
                : "the " + kind + " registrar has " + MAX_QUEUED + " requests waiting already";
    }

    /** Takes no more requests and lets those waiting run (the unregisters of a closing gateway) for {@code grace}. */
    void close(Duration grace) {
        runner.shutdown();
        try {
            if (!runner.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                log.warn("the {} registrar is slow: not waiting for its last requests", kind);
                abandon();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abandon();
        }
    }

    /** Interrupts the request running and refuses those waiting. */
    private void abandon() {
        for (Runnable waiting : runner.shutdownNow()) {
            if (waiting instanceof Request request && request.done != null) {
                request.done.completeExceptionally(new IllegalStateException(refusal()));
            }
        }
    }

    /** One request on the queue, with the stage a register completes ({@code null} for an unregister). */
    private record Request(CompletableFuture<Void> done, Runnable work) implements Runnable {
        @Override
        public void run() {
            work.run();
        }
    }
}
