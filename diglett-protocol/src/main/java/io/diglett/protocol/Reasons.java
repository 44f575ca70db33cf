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
        return sameOnEveryTransport(message(cause));
    }

    /**
     * io_uring's "io_uring connect(..) failed with error(-111): Connection refused" as epoll says it, without the
     * "io_uring " prefix: one reason whichever transport the process runs on.
     */
    private static final java.util.regex.Pattern IO_URING =
            java.util.regex.Pattern.compile("(^|: )io_uring ([a-z_]+\\(\\.\\.\\) failed)");

    static String sameOnEveryTransport(String reason) {
        return reason.contains("io_uring ") ? IO_URING.matcher(reason).replaceFirst("$1$2") : reason;
    }

    private static String message(Throwable cause) {
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
