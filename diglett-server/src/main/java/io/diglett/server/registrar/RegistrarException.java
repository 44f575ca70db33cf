package io.diglett.server.registrar;

/**
 * A registrar's failure whose message the agent may read: it says nothing of the operator's set-up (no paths,
 * no addresses, nothing a proxy or a command answered). The gateway tells the agent any other failure only as
 * "the registrar failed", and logs its details. Temporary: the agent tries again later; see
 * {@link NameRefusedException} for a refusal that stays.
 */
public class RegistrarException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public RegistrarException(String message) {
        super(message);
    }

    public RegistrarException(String message, Throwable cause) {
        super(message, cause);
    }
}
