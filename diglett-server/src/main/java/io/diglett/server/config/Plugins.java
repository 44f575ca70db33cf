package io.diglett.server.config;

import java.util.ServiceLoader;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Finds a plug-in (authenticator, registrar) on the class path by the name the operator gives, and gives one a
 * thread for its slow work.
 */
public final class Plugins {

    private Plugins() {
    }

    /**
     * The provider of {@code type} whose {@code nameOf} is {@code name}.
     *
     * @throws IllegalArgumentException naming the {@code what} and the available names, when there is none
     */
    public static <P> P find(Class<P> type, String name, Function<P, String> nameOf, String what) {
        StringBuilder known = new StringBuilder();
        for (P provider : ServiceLoader.load(type)) {
            String candidate = nameOf.apply(provider);
            if (candidate.equals(name)) {
                return provider;
            }
            known.append(known.length() == 0 ? "" : ", ").append(candidate);
        }
        throw new IllegalArgumentException("no " + what + " named '" + name + "' (available: " + known + ")");
    }

    /**
     * One daemon thread called {@code threadName} for slow work (never an event loop's), running tasks one at a
     * time in order, with at most {@code capacity} tasks waiting: {@code execute} throws
     * {@link java.util.concurrent.RejectedExecutionException} when they are that many (and once shut down).
     */
    public static ExecutorService worker(String threadName, int capacity) {
        return new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(capacity),
                daemon(threadName));
    }

    private static ThreadFactory daemon(String threadName) {
        return r -> {
            Thread thread = new Thread(r, threadName);
            thread.setDaemon(true);
            return thread;
        };
    }
}
