package io.diglett.server.visitor;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A few threads of their own for the logins' slow work (password hashes, calls to identity providers), never an
 * event loop's: a bounded queue for every name together, and a bound per name, so that one name's flood leaves room
 * for the others. Work beyond either bound fails at once with a RejectedExecutionException (the ingress answers
 * 503).
 */
final class Workers {

    private final ThreadPoolExecutor pool;
    private final int maxPerName;

    Workers(String threadName, int threads, int maxWaiting, int maxPerName) {
        this.maxPerName = maxPerName;
        this.pool = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(maxWaiting), r -> {
                    Thread thread = new Thread(r, threadName);
                    thread.setDaemon(true);
                    return thread;
                });
    }

    /** {@code work}, counted in {@code perName} (the calling name's count of work waiting or running). */
    <T> CompletableFuture<T> submit(AtomicInteger perName, Callable<T> work) {
        CompletableFuture<T> result = new CompletableFuture<>();
        if (perName.incrementAndGet() > maxPerName) {
            perName.decrementAndGet();
            result.completeExceptionally(new RejectedExecutionException("more than " + maxPerName
                    + " checks of this name at once"));
            return result;
        }
        try {
            pool.execute(() -> {
                try {
                    result.complete(work.call());
                } catch (Exception | LinkageError e) {
                    result.completeExceptionally(e);
                } finally {
                    perName.decrementAndGet();
                }
            });
        } catch (RejectedExecutionException e) {
            perName.decrementAndGet();
            result.completeExceptionally(e);
        }
        return result;
    }
}
