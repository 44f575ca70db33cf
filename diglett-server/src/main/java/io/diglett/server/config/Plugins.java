package io.diglett.server.config;

import java.util.ServiceLoader;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
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
     * One daemon thread called {@code threadName} for a plug-in's slow work (never an event loop's), running
     * tasks one at a time in order.
     */
    public static ExecutorService worker(String threadName) {
        return Executors.newSingleThreadExecutor(r -> {
            Thread thread = new Thread(r, threadName);
            thread.setDaemon(true);
            return thread;
        });
    }
}
