package io.diglett.server;

/**
 * The seed's pluggable authentication and authorization step: the token from the agent's Login becomes a
 * principal, and each name the agent registers is checked against it. Called on the link's event loop:
 * implementations must not block.
 */
public interface Authenticator {

    /** Who the token belongs to, or {@link AccessDeniedException} with the reason for the agent. */
    String authenticate(String token) throws AccessDeniedException;

    /** Allows {@code principal} to register {@code name}, or throws with the reason for the agent. */
    void authorize(String principal, String name) throws AccessDeniedException;

    /** The default: every token is accepted and may register any free name. */
    static Authenticator open() {
        return new Authenticator() {
            @Override
            public String authenticate(String token) {
                return "anonymous";
            }

            @Override
            public void authorize(String principal, String name) {
            }
        };
    }
}
