package io.diglett.server.registrar;

import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The seed's "configuration" step, pluggable: told when a name goes live on a public port and when it goes
 * away, so that it can expose it (configure an ingress proxy, DNS, a firewall). Chosen with {@code --registrar}
 * from the {@link RegistrarProvider}s on the class path; built in: {@code log} (the seed's default),
 * {@code exec}, {@code traefik} and {@code caddy}.
 *
 * <p>Called on the agents' event loops: return at once and do slow work elsewhere, completing the stage when
 * done. A stage that completes exceptionally refuses the registration, and nothing of it stays exposed: with
 * a {@link NameRefusedException} for good (the agent is refused with its message and stops), otherwise for now
 * (the agent tries again later). The agent reads the message of a {@link RegistrarException} only; any other
 * failure goes to the gateway's log and the agent reads {@code the registrar failed}.
 */
public interface Registrar extends AutoCloseable {

    /** What goes live: the name, its public port, and who registered it. */
    record Exposure(String name, int port, String agent, String principal) {
    }

    /** Expose {@code exposure}; complete when done, exceptionally to refuse. */
    CompletionStage<Void> register(Exposure exposure);

    /**
     * Whether this registrar routes traffic to each name's public port (a reverse proxy's route to
     * {@code 127.0.0.1:PORT}): then every name gets a raw public port, also with the built-in ingress on, where a
     * name otherwise has none unless its agent asks ({@link Exposure#port()} 0). The built-in {@code traefik}
     * and {@code caddy} registrars do; {@code log} and {@code exec} do not (a hook that needs a port has its
     * agents ask with {@code raw=on}).
     */
    default boolean routesToPorts() {
        return false;
    }

    /**
     * Withdraw {@code exposure} (best effort: failures are logged, never fatal). {@code exposure} is the very
     * object {@link #register} was given. A name that moves to a new link may be registered again before the
     * old link's exposure is withdrawn: the built-in registrars then leave the newer registration in place.
     */
    void unregister(Exposure exposure);

    /**
     * Removes what this registrar finds exposed by an earlier run (a gateway killed before it could withdraw its
     * names) for names not in {@code live}: only entries it owns, which it tells by a mark of its own, never the
     * operator's. The gateway calls it at start, before any agent can connect, with no live names, and for a
     * registrar a reload puts in place, with the live names; requests made afterwards run after it. Returns at
     * once; failures are logged, and the built-in registrars try again until it succeeds, failing registrations
     * meanwhile. By default there is nothing to remove.
     */
    default void reconcile(Set<String> live) {
    }

    @Override
    default void close() {
    }

    /**
     * The seed's default: nothing beyond the gateway's own log lines, {@code register domain 'NAME' -> 'PORT'}
     * and {@code unregister domain 'NAME'}, which every registrar gets.
     */
    static Registrar log() {
        return LogRegistrar.INSTANCE;
    }

    /** The {@code log} registrar: exposes nothing itself. */
    final class LogRegistrar implements Registrar {
        static final LogRegistrar INSTANCE = new LogRegistrar();

        private LogRegistrar() {
        }

        @Override
        public CompletionStage<Void> register(Exposure exposure) {
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public void unregister(Exposure exposure) {
        }
    }
}
