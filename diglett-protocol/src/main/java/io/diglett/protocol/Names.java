package io.diglett.protocol;

/** Rules for the names agents register. */
public final class Names {

    /** Longest name: a DNS label. */
    public static final int MAX_LENGTH = 63;

    private Names() {
    }

    /**
     * Why {@code name} is not a valid tunnel name, or {@code null} when it is. A name is one DNS label:
     * 1 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'. Lower case only, so a name
     * maps to exactly one host name.
     */
    public static String problem(String name) {
        if (name == null || name.isEmpty()) {
            return "name is empty";
        }
        if (name.length() > MAX_LENGTH) {
            return "name '" + printable(name) + "' is longer than " + MAX_LENGTH + " characters";
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
            if (!ok) {
                return "name '" + printable(name) + "' is not a DNS label: only a-z, 0-9 and '-' are allowed";
            }
        }
        if (name.charAt(0) == '-' || name.charAt(name.length() - 1) == '-') {
            return "name '" + name + "' must not start or end with '-'";
        }
        return null;
    }

    /**
     * The gateway's exact answer to a Register for a name another agent holds: a Refuse when the holder has another
     * token, an Error when neither agent has one (the holder may be the asking agent's own dying link). Agents
     * recognise the Error (see {@link #isInUse}) and retry it for a few heartbeat intervals after losing a link.
     */
    public static String inUse(String name) {
        return "name '" + name + "' is already in use";
    }

    /**
     * The gateway's answer (an Error to the Register, version 4) when a link of the same token holds the name and
     * answered the gateway's liveness check: another agent with this token serves the name now. Trying again later
     * is the point: the name is handed over once that agent is gone.
     */
    public static String inUseByLiveAgent(String name) {
        return "name '" + name + "' is in use by a live agent";
    }

    /** Whether a refusal is {@link #inUseByLiveAgent}. */
    public static boolean isInUseByLiveAgent(String reason) {
        return reason != null && reason.startsWith("name '") && reason.endsWith("' is in use by a live agent");
    }

    /** Whether a refusal is {@link #inUse}. */
    public static boolean isInUse(String reason) {
        return reason != null && reason.startsWith("name '") && reason.endsWith("' is already in use");
    }

    /** The name with control characters escaped, safe to log and echo back. */
    static String printable(String name) {
        StringBuilder sb = new StringBuilder(Math.min(name.length(), 80));
        for (int i = 0; i < name.length() && i < 80; i++) {
            char c = name.charAt(i);
            sb.append(c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\u%04x", (int) c));
        }
        return sb.toString();
    }
}
