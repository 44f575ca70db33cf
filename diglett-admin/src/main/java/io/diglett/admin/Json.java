package io.diglett.admin;

/**
 * A small JSON writer for the admin endpoint's answers (objects, arrays, strings, numbers, booleans), so the
 * programs need no JSON library for a handful of flat documents.
 */
public final class Json {

    private final StringBuilder out = new StringBuilder(256);
    /** Whether the current container already holds a value (a comma goes before the next). */
    private boolean[] filled = new boolean[8];
    private int depth;

    public Json beginObject() {
        return open('{');
    }

    public Json endObject() {
        return close('}');
    }

    public Json beginArray() {
        return open('[');
    }

    public Json endArray() {
        return close(']');
    }

    /** The next member's name, inside an object. */
    public Json name(String name) {
        comma();
        quote(out, name);
        out.append(':');
        filled[depth] = false; // the value follows without a comma
        return this;
    }

    public Json value(String value) {
        comma();
        if (value == null) {
            out.append("null");
        } else {
            quote(out, value);
        }
        return this;
    }

    public Json value(long value) {
        comma();
        out.append(value);
        return this;
    }

    public Json value(double value) {
        comma();
        out.append(Double.isFinite(value) ? Double.toString(value) : "null");
        return this;
    }

    public Json value(boolean value) {
        comma();
        out.append(value);
        return this;
    }

    private Json open(char c) {
        comma();
        out.append(c);
        if (++depth == filled.length) {
            filled = java.util.Arrays.copyOf(filled, depth * 2);
        }
        filled[depth] = false;
        return this;
    }

    private Json close(char c) {
        out.append(c);
        depth--;
        return this;
    }

    private void comma() {
        if (filled[depth]) {
            out.append(',');
        }
        filled[depth] = true;
    }

    /** {@code value} as a JSON string literal. */
    public static String quote(String value) {
        return quote(new StringBuilder(value.length() + 2), value).toString();
    }

    /**
     * Appends {@code s} as a JSON string literal. Besides what JSON requires, {@code <}, {@code >} and
     * {@code &} are escaped too, as Go's encoder does: the text is then safe inside HTML as well.
     */
    private static StringBuilder quote(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x2028 || c == 0x2029) {
                        out.append(String.format(java.util.Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"');
    }

    @Override
    public String toString() {
        return out.toString();
    }
}
