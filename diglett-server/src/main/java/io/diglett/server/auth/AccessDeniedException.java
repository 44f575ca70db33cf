package io.diglett.server.auth;

/** A token or a name was refused; the message goes back to the agent. */
public final class AccessDeniedException extends Exception {
    private static final long serialVersionUID = 1L;

    public AccessDeniedException(String message) {
        super(message);
    }
}
