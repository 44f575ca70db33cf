package io.diglett.server.registrar;

/**
 * A registrar refuses one name for good: trying again will not change it (the name is a site of the operator's
 * own proxy configuration, or an operator's file of the registrar's own naming is in the way). The gateway
 * refuses the agent with the message, which names the name and nothing of the operator's set-up, so the agent
 * stops instead of trying again.
 */
public final class NameRefusedException extends RegistrarException {
    private static final long serialVersionUID = 1L;

    public NameRefusedException(String message) {
        super(message);
    }
}
