package io.diglett.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The seed's "registerer": told when a name goes live on a public port and when it goes away, so that it can
 * expose it (for example, configure an ingress proxy). Called on the link's event loop: must not block.
 */
public interface Registerer {

    /** {@code name} now accepts public connections on {@code port}. Throwing refuses the registration. */
    void register(String name, int port) throws Exception;

    /** {@code name}, which was on {@code port}, is gone. */
    void unregister(String name, int port);

    /** The seed's default: print the registration, change nothing else. */
    static Registerer log() {
        return LogRegisterer.INSTANCE;
    }

    /** Logs {@code register domain 'NAME' -> 'PORT'} and {@code unregister domain 'NAME'}. */
    final class LogRegisterer implements Registerer {
        static final LogRegisterer INSTANCE = new LogRegisterer();
        private static final Logger log = LoggerFactory.getLogger(Registerer.class);

        private LogRegisterer() {
        }

        @Override
        public void register(String name, int port) {
            log.info("register domain '{}' -> '{}'", name, port);
        }

        @Override
        public void unregister(String name, int port) {
            log.info("unregister domain '{}'", name);
        }
    }
}
