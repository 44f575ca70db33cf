package io.diglett.server.auth;

/**
 * A token or a name was refused; the message goes back to the agent. A {@linkplain #temporary() temporary} refusal
 * (the gateway cannot read its token file) lets the agent try again; any other one stops it.
 */
public final class AccessDeniedException extends Exception {
    private static final long serialVersionUID = 1L;

    private final boolean temporary;

    public AccessDeniedException(String message) {
        this(message, false);
    }

    public AccessDeniedException(String message, boolean temporary) {
        super(message);
        this.temporary = temporary;
    }

    /** Whether trying again later may succeed: the refusal is the gateway's trouble, not the agent's token. */
    public boolean temporary() {
        return temporary;
    }
}
