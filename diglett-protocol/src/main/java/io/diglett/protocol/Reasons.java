package io.diglett.protocol;

/** Failures as a reason people can read: never "null", which is what many exceptions carry as their message. */
public final class Reasons {

    private Reasons() {
    }

    /**
     * {@code cause}'s message; when it has none (an {@code UnresolvedAddressException}, a
     * {@code NullPointerException}...), the first message of its causes, else its class's simple name.
     */
    public static String of(Throwable cause) {
        if (cause == null) {
            return "unknown cause";
        }
        Throwable t = cause;
        for (int depth = 0; t != null && depth < 10; depth++, t = t.getCause()) { // depth: causes may form a loop
            String message = t.getMessage();
            if (message != null && !message.isBlank()) {
                return t == cause ? message : cause.getClass().getSimpleName() + ": " + message;
            }
        }
        return cause.getClass().getSimpleName();
    }
}
