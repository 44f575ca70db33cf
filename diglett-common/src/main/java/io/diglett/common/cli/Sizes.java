package io.diglett.common.cli;

import io.diglett.protocol.Protocol;

/** Byte sizes as people write them: {@code 262144}, {@code 256k}, {@code 4m}. */
public final class Sizes {

    private Sizes() {
    }

    /** Parses a per-stream window size, which must lie between {@link Protocol#MIN_WINDOW} and 2^31-1. */
    public static int window(String text) {
        long size = parse(text);
        if (size < Protocol.MIN_WINDOW || size > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("window '" + text + "' must be between " + Protocol.MIN_WINDOW
                    + " and " + Integer.MAX_VALUE + " bytes");
        }
        return (int) size;
    }

    /** Parses a size; {@code k}, {@code m}, {@code g} (any case, optional trailing {@code b}) are powers of 1024. */
    public static long parse(String text) {
        String s = text.trim().toLowerCase(java.util.Locale.ROOT);
        if (s.endsWith("b")) {
            s = s.substring(0, s.length() - 1);
        }
        long unit = 1;
        if (!s.isEmpty()) {
            switch (s.charAt(s.length() - 1)) {
                case 'k' -> unit = 1L << 10;
                case 'm' -> unit = 1L << 20;
                case 'g' -> unit = 1L << 30;
                default -> unit = 1;
            }
        }
        if (unit != 1) {
            s = s.substring(0, s.length() - 1);
        }
        try {
            long value = Long.parseLong(s);
            if (value < 0) {
                throw new IllegalArgumentException("'" + text + "' is negative");
            }
            return Math.multiplyExact(value, unit);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("'" + text + "' is not a size (examples: 65536, 256k, 1m)");
        }
    }
}
