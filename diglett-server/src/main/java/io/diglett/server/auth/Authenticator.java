package io.diglett.server.auth;

/**
 * The seed's pluggable authentication and authorization step: the token from the agent's Login becomes a
 * principal, and each name the agent registers is checked against it. Implementations come from an
 * {@link AuthenticatorProvider} found with {@link java.util.ServiceLoader}; see {@code docs/security.md}.
 *
 * <p>Called on the agents' event loops, possibly from several threads at once: implementations must be
 * thread-safe and must not block.
 */
public interface Authenticator extends AutoCloseable {

    /** Who the token belongs to, or {@link AccessDeniedException} with the reason for the agent. */
    String authenticate(String token) throws AccessDeniedException;

    /** Allows {@code principal} to register {@code name}, or throws with the reason for the agent. */
    void authorize(String principal, String name) throws AccessDeniedException;

    /**
     * The operator's visitor policy for {@code principal}'s names, which narrows each name's own (docs/policy.md);
     * {@link io.diglett.protocol.Policy#NONE} by default.
     */
    default io.diglett.protocol.Policy policy(String principal) {
        return io.diglett.protocol.Policy.NONE;
    }

    /**
     * Whether this authenticator lets anyone in. The gateway warns at startup when it does; the default is
     * {@code false}.
     */
    default boolean admitsEveryone() {
        return false;
    }

    /**
     * Registers {@code listener}, to be run (on any thread) whenever earlier decisions may have changed, for
     * example after a token file was edited. The gateway then re-authorizes every live tunnel and closes the
     * agents that lost a name. The default never changes its decisions.
     */
    default void onChange(Runnable listener) {
    }

    /**
     * Reads whatever the decisions come from again, now (the gateway got SIGHUP), and tells the
     * {@link #onChange} listeners if they changed. The default has nothing to read.
     */
    default void reload() {
    }

    @Override
    default void close() {
    }

    /** The seed's open behaviour: every token is accepted and may register any free name. */
    static Authenticator open() {
        return new Authenticator() {
            @Override
            public String authenticate(String token) {
                return "anonymous";
            }

            @Override
            public void authorize(String principal, String name) {
            }

            @Override
            public boolean admitsEveryone() {
                return true;
            }
        };
    }
}
