package io.diglett.protocol;

/**
 * Text a peer sent, made safe for a log line or a terminal: control characters (C0, DEL, C1), line and paragraph
 * separators and the bidirectional overrides are written as a backslash, u and four hex digits, so a reason
 * cannot start a forged log line, move the cursor or reorder what an operator reads; and the result is at most
 * {@link #MAX_LENGTH} characters, then {@link #CUT} and how many characters of the text were left out, so a peer
 * cannot fill a log line or a status view either. Everything else, non-ASCII letters included, is kept.
 *
 * <p>This is the one place where either program makes a peer's text printable: the payload decoders
 * ({@link Signals.Reason#decode}, {@link Requests.Registered#decode}) use it for everything a link peer says, and
 * the gateway for what public clients and registrar commands say (a TLS server name, a command's output).
 */
public final class Printable {

    /** Longest result, escapes included, before the marker. */
    public static final int MAX_LENGTH = 256;

    /** Marks a cut: followed by {@code (+N)}, the number of characters of the text that were left out. */
    public static final String CUT = "\u2026";

    private Printable() {
    }

    /**
     * {@code text} with every unsafe character escaped and at most {@link #MAX_LENGTH} characters kept;
     * {@code text} itself when it is short and has nothing to escape; {@code "null"} for {@code null}.
     */
    public static String of(String text) {
        return of(text, MAX_LENGTH);
    }

    /**
     * {@link #of(String)} with room for {@code max} characters: for the few texts an operator needs whole (an ACME
     * server's problem document), still bounded.
     */
    public static String of(String text, int max) {
        if (text == null) {
            return "null";
        }
        int first = 0;
        while (first < text.length() && first < max && safe(text.charAt(first))) {
            first++;
        }
        if (first == text.length()) {
            return text;
        }
        if (first > 0 && Character.isHighSurrogate(text.charAt(first - 1))) {
            first--; // the loop below keeps a pair together or leaves it out
        }
        StringBuilder out = new StringBuilder(Math.min(text.length(), max) + 16).append(text, 0, first);
        int i = first;
        for (; i < text.length(); i++) {
            char c = text.charAt(i);
            int width = safe(c) ? 1 : 6;
            boolean pair = Character.isHighSurrogate(c) && i + 1 < text.length()
                    && Character.isLowSurrogate(text.charAt(i + 1));
            if (out.length() + width + (pair ? 1 : 0) > max) {
                break;
            }
            if (width == 1) {
                out.append(c);
                if (pair) {
                    out.append(text.charAt(++i));
                }
            } else {
                out.append(String.format("\\u%04x", (int) c));
            }
        }
        if (i < text.length()) {
            out.append(CUT).append("(+").append(text.length() - i).append(')');
        }
        return out.toString();
    }

    private static boolean safe(char c) {
        return !(c < 0x20 || c >= 0x7f && c <= 0x9f
                || c == '\u2028' || c == '\u2029'
                || c >= '\u202a' && c <= '\u202e'
                || c >= '\u2066' && c <= '\u2069'
                || c == '\u200e' || c == '\u200f' || c == '\u061c');
    }
}
