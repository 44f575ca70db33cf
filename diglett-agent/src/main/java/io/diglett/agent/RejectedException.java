package io.diglett.agent;

/** The gateway refused the agent (token, name, protocol version): retrying will not help. */
public final class RejectedException extends Exception {
    private static final long serialVersionUID = 1L;

    public RejectedException(String message) {
        super(message);
    }
}
