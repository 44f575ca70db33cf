package io.diglett.protocol;

/**
 * Text a peer sent, made safe for a log line or a terminal: control characters (C0, DEL, C1), line and paragraph
 * separators and the bidirectional overrides are written as a backslash, u and four hex digits, so a reason
 * cannot start a forged log line, move the cursor or reorder what an operator reads. Everything else, non-ASCII
 * letters included, is kept.
 */
public final class Printable {

    private Printable() {
    }

    /** {@code text} with every unsafe character escaped; {@code text} itself when there is none. */
    public static String of(String text) {
        int first = 0;
        while (first < text.length() && safe(text.charAt(first))) {
            first++;
        }
        if (first == text.length()) {
            return text;
        }
        StringBuilder out = new StringBuilder(text.length() + 16).append(text, 0, first);
        for (int i = first; i < text.length(); i++) {
            char c = text.charAt(i);
            if (safe(c)) {
                out.append(c);
            } else {
                out.append(String.format("\\u%04x", (int) c));
            }
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
