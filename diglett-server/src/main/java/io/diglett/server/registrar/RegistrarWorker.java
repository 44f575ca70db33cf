package io.diglett.server.registrar;

import io.diglett.protocol.Reasons;
import io.diglett.server.registrar.Registrar.Exposure;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;

/**
 * The threads a built-in registrar does its slow work on, never an event loop's: requests for different names
 * run concurrently, on at most {@code concurrency} threads, while the requests for one name run one at a time in
 * the order they were made (a register, an unregister and a register again of a name never reorder); otherwise
 * the oldest request that may start starts first (with one thread, strictly in the order they were made). At
 * most {@link #MAX_QUEUED} requests wait, all names together; more are refused.
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

    /** The name of {@link #exclusive} work: never a DNS label, so never a tunnel's name. */
    private static final String EVERY_NAME = "*";
    /** Requests that may wait; more are refused (registers fail, unregisters are logged as not done). */
    static final int MAX_QUEUED = 65_536;
    /** Requests of different names that run at once, unless the registrar says otherwise. */
    static final int DEFAULT_CONCURRENCY = 8;

    /** A registrar's work for one request. */
    @FunctionalInterface
    interface Work {
        void run() throws Exception;
    }

    private final String kind;
    private final Logger log;
    private final int concurrency;
    private final Executor runner;
    private final Object lock = new Object();
    /** Requests not started yet, oldest first. Under {@link #lock}. */
    private final ArrayDeque<Request> waiting = new ArrayDeque<>();
    /** Names with a request running. Under {@link #lock}. */
    private final Set<String> running = new HashSet<>();
    /** Drain loops handed to the runner and not ended. Under {@link #lock}. */
    private int active;
    /** Requests waiting or running. Under {@link #lock}. */
    private int queued;
    /** No more requests are taken. Under {@link #lock}. */
    private boolean closed;
    /** How long after a failed clean-up it is tried again at first, and at most. */
    static final Duration FIRST_RETRY = Duration.ofMillis(500);
    static final Duration LAST_RETRY = Duration.ofSeconds(30);
    /** The clean-up still to do before any register, or {@code null}; see {@link #cleanUp}. */
    private volatile Cleanup pendingCleanup;
    /** Per name, the exposure the last successful register exposed; a name's requests never run at once. */
    private final Map<String, Exposure> exposed = new ConcurrentHashMap<>();

    /** A worker for the registrar called {@code kind} ({@code exec}, ...) on {@code concurrency} threads. */
    RegistrarWorker(String kind, Logger log, int concurrency) {
        this(kind, log, concurrency, threads("diglett-registrar-" + kind, concurrency));
    }

    /** A worker running at most {@code concurrency} requests at once on {@code runner} (tests watch it). */
    RegistrarWorker(String kind, Logger log, int concurrency, Executor runner) {
        if (concurrency < 1) {
            throw new IllegalArgumentException("registrar concurrency must be at least 1, not " + concurrency);
        }
        this.kind = kind;
        this.log = log;
        this.concurrency = concurrency;
        this.runner = runner;
    }

    /** Up to {@code count} daemon threads, started on demand and ended when idle; at most {@code count} tasks. */
    private static ExecutorService threads(String name, int count) {
        AtomicInteger started = new AtomicInteger();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(Math.max(1, count), Math.max(1, count), 30,
                TimeUnit.SECONDS, new LinkedBlockingQueue<>(Math.max(1, count)), r -> {
                    Thread thread = new Thread(r, name + "-" + started.incrementAndGet());
                    thread.setDaemon(true);
                    return thread;
                });
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }

    /** Runs {@code expose} for {@code exposure} after the earlier requests for its name; fails as it fails. */
    CompletionStage<Void> register(Exposure exposure, Work expose) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Request request = new Request(exposure.name(), done, () -> {
            try {
                if (!cleanedUp()) {
                    throw new IllegalStateException("the " + kind + " registrar cannot remove what an earlier run"
                            + " left, so it exposes nothing yet");
                }
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
        });
        if (!submit(request)) {
            done.completeExceptionally(new RegistrarException(refusal()));
        }
        return done;
    }

    /**
     * Runs {@code withdraw} for {@code exposure} after the earlier requests for its name, unless a newer exposure
     * of the name has been exposed meanwhile; a failure is logged.
     */
    void unregister(Exposure exposure, Work withdraw) {
        Request request = new Request(exposure.name(), null, () -> {
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
        });
        if (!submit(request)) {
            log.warn("{}: '{}' stays exposed", refusal(), exposure.name());
        }
    }

    /**
     * Has {@code work}, the clean-up of what an earlier run left ({@link Registrar#reconcile}), done before any
     * register: it runs after the requests made before it; when it fails (the proxy is not up yet) it is retried,
     * {@link #FIRST_RETRY} later, then twice as long each time up to {@link #LAST_RETRY}, until it succeeds, and
     * every register made meanwhile tries it first and fails if it still cannot be done (nothing is exposed next
     * to routes that point at ports other names may get). {@code what} says what it is, for the log. A clean-up
     * asked for later replaces one still pending. For a worker of concurrency 1 only.
     */
    void cleanUp(String what, Work work) {
        if (concurrency != 1) {
            throw new IllegalStateException("a clean-up needs a worker that runs one request at a time");
        }
        Cleanup cleanup = new Cleanup(what, work);
        pendingCleanup = cleanup;
        exclusive(what, () -> attempt(cleanup, FIRST_RETRY));
    }

    /** Runs {@code cleanup} if it is still pending; on failure, logs and tries it again after {@code delay}. */
    private void attempt(Cleanup cleanup, Duration delay) {
        if (pendingCleanup != cleanup || cleanedUp()) {
            return;
        }
        Duration next = delay.multipliedBy(2).compareTo(LAST_RETRY) > 0 ? LAST_RETRY : delay.multipliedBy(2);
        log.info("the {} registrar tries to {} again in {} ms", kind, cleanup.what, delay.toMillis());
        CompletableFuture.delayedExecutor(delay.toMillis(), TimeUnit.MILLISECONDS).execute(() -> {
            synchronized (lock) {
                if (closed) {
                    return;
                }
            }
            exclusive(cleanup.what, () -> attempt(cleanup, next));
        });
    }

    /** Runs the pending clean-up, if any; whether none is left. On this worker's single drain loop only. */
    private boolean cleanedUp() {
        Cleanup cleanup = pendingCleanup;
        if (cleanup == null) {
            return true;
        }
        try {
            cleanup.work.run();
        } catch (Exception e) {
            log.warn("the {} registrar failed to {}: {}", kind, cleanup.what, Reasons.of(e));
            return false;
        }
        if (pendingCleanup == cleanup) {
            pendingCleanup = null;
        }
        return true;
    }

    /** A clean-up {@link #cleanUp} was asked for. */
    private record Cleanup(String what, Work work) {
    }

    /**
     * Runs {@code work}, which concerns every name ({@code what} says what it is, for the log), after the
     * requests made before it and before those made after it: for a worker of concurrency 1 only, where requests
     * run strictly in the order they were made. A failure is logged.
     */
    void exclusive(String what, Work work) {
        if (concurrency != 1) {
            throw new IllegalStateException("work on every name needs a worker that runs one request at a time");
        }
        Request request = new Request(EVERY_NAME, null, () -> {
            try {
                work.run();
            } catch (Exception e) {
                log.warn("the {} registrar failed to {}: {}", kind, what, Reasons.of(e));
            }
        });
        if (!submit(request)) {
            log.warn("{}: cannot {}", refusal(), what);
        }
    }

    /** Queues {@code request} (false if refused) and starts a drain loop if one may run it now. */
    private boolean submit(Request request) {
        synchronized (lock) {
            if (closed || queued >= MAX_QUEUED) {
                return false;
            }
            queued++;
            waiting.add(request);
        }
        pump();
        return true;
    }

    /** Hands drain loops to the runner while fewer than {@code concurrency} run and some request could start. */
    private void pump() {
        while (true) {
            synchronized (lock) {
                if (active >= concurrency || !hasEligible()) {
                    return;
                }
                active++;
            }
            try {
                runner.execute(this::drain);
            } catch (RejectedExecutionException e) {
                // the runner was stopped (the registrar was abandoned while closing): abandon() refuses the rest
                synchronized (lock) {
                    active--;
                }
                return;
            }
        }
    }

    /** Whether a waiting request's name has nothing running. Under {@link #lock}. */
    private boolean hasEligible() {
        for (Request request : waiting) {
            if (!running.contains(request.name)) {
                return true;
            }
        }
        return false;
    }

    /** The oldest waiting request whose name has nothing running, taken off the queue, or {@code null}. */
    private Request takeEligible() {
        for (Iterator<Request> it = waiting.iterator(); it.hasNext(); ) {
            Request request = it.next();
            if (!running.contains(request.name)) {
                it.remove();
                running.add(request.name);
                return request;
            }
        }
        return null;
    }

    /** One of the drain loops: runs requests, oldest eligible first, until none can start. */
    private void drain() {
        while (true) {
            Request request;
            synchronized (lock) {
                request = takeEligible();
                if (request == null) {
                    active--;
                    return;
                }
            }
            try {
                request.work.run();
            } catch (RuntimeException e) {
                log.error("the {} registrar failed on '{}'", kind, request.name, e);
            } finally {
                synchronized (lock) {
                    running.remove(request.name);
                    queued--;
                    lock.notifyAll();
                }
            }
            pump(); // requests of other names may have waited for a free loop
        }
    }

    private String refusal() {
        synchronized (lock) {
            return closed ? "the " + kind + " registrar is closed"
                    : "the " + kind + " registrar has " + MAX_QUEUED + " requests waiting already";
        }
    }

    /** Takes no more requests and lets those waiting run (the unregisters of a closing gateway) for {@code grace}. */
    void close(Duration grace) {
        long deadline = System.nanoTime() + grace.toNanos();
        boolean drained;
        synchronized (lock) {
            closed = true;
            try {
                long left;
                while (queued > 0 && (left = deadline - System.nanoTime()) > 0) {
                    TimeUnit.NANOSECONDS.timedWait(lock, left);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            drained = queued == 0;
        }
        if (!drained) {
            log.warn("the {} registrar is slow: not waiting for its last requests", kind);
            abandon();
        } else if (runner instanceof ExecutorService service) {
            service.shutdown();
        }
    }

    /** Interrupts the requests running and refuses those waiting. */
    private void abandon() {
        List<Request> left;
        synchronized (lock) {
            left = new ArrayList<>(waiting);
            waiting.clear();
            queued -= left.size();
        }
        if (runner instanceof ExecutorService service) {
            service.shutdownNow();
        }
        for (Request request : left) {
            if (request.done != null) {
                request.done.completeExceptionally(new RegistrarException(refusal()));
            }
        }
    }

    /** One request for {@code name}, with the stage a register completes ({@code null} for an unregister). */
    private record Request(String name, CompletableFuture<Void> done, Runnable work) {
    }
}
