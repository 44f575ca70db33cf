package io.diglett.common.transport;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Start-up: the native libraries a program is about to need, loaded on a thread of their own while the main
 * thread reads its settings and builds its objects. Netty's checks for the event loops' transport (io_uring,
 * epoll) and OpenSSL each extract a library from the jar, load it and probe it, 0.05-0.12 s at a start; the
 * class initialisers they run are the JVM's to order, so the main thread, when it gets there, waits for the
 * one under way or finds it done, and never runs it twice. Call it after logging is configured: the checks
 * create loggers, and slf4j-simple reads its settings at the first.
 */
public final class Preload {

    private static final Logger log = LoggerFactory.getLogger(Preload.class);

    /** The thread's name, as a thread dump shows it. */
    public static final String THREAD_NAME = "diglett-preload";

    private Preload() {
    }

    /**
     * Starts loading, when {@code tls}, OpenSSL ({@link Tls#provider}), then the transport's native library
     * ({@link Transport#best}); returns the thread, a daemon. OpenSSL first: a program needs its transport
     * sooner (for its event loops) and loads it itself meanwhile, and only then dials or listens with TLS.
     */
    public static Thread nativeLibraries(boolean tls) {
        Thread thread = new Thread(() -> {
            try {
                if (tls) {
                    Tls.provider();
                }
                Transport.best();
            } catch (RuntimeException | LinkageError e) {
                // the main thread meets the same failure when it gets there, and reports it
                log.debug("preloading the native libraries: {}", e.toString());
            }
        }, THREAD_NAME);
        thread.setDaemon(true);
        thread.start();
        return thread;
    }
}
