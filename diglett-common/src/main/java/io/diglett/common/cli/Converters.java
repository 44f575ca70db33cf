package io.diglett.common.cli;

import io.diglett.common.HostPort;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.Reasons;
import java.util.function.Supplier;
import picocli.CommandLine;

/** picocli converters for what both command lines take: one per type, and per default port for addresses. */
public final class Converters {

    private Converters() {
    }

    /** Runs {@code parser}; its IllegalArgumentException becomes picocli's one-line usage error. */
    public static <T> T parse(Supplier<T> parser) {
        try {
            return parser.get();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.TypeConversionException(Reasons.of(e));
        }
    }

    /** A per-stream window: {@code 262144}, {@code 256k}, {@code 4m} (see {@link Sizes#window}). */
    public static final class Window implements CommandLine.ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return parse(() -> Sizes.window(value));
        }
    }

    /** A size in bytes, or {@code auto} (-1) for the default the program derives: {@code 128m}, {@code auto}. */
    public static final class SizeOrAuto implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            return "auto".equalsIgnoreCase(value.trim()) ? -1L : parse(() -> {
                long size = Sizes.parse(value);
                if (size <= 0) {
                    throw new IllegalArgumentException("'" + value + "' must be a positive size or 'auto'");
                }
                return size;
            });
        }
    }

    /** A positive count, or {@code auto} (-1) for the default the program derives. */
    public static final class CountOrAuto implements CommandLine.ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return "auto".equalsIgnoreCase(value.trim()) ? -1 : parse(() -> {
                int count;
                try {
                    count = Integer.parseInt(value.trim());
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("'" + value + "' is not a number or 'auto'");
                }
                if (count < 1) {
                    throw new IllegalArgumentException("'" + value + "' must be at least 1, or 'auto'");
                }
                return count;
            });
        }
    }

    /** A size in bytes that fits an int: {@code 128k}. */
    public static final class IntSize implements CommandLine.ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return parse(() -> {
                long size = Sizes.parse(value);
                if (size <= 0 || size > Integer.MAX_VALUE) {
                    throw new IllegalArgumentException("'" + value + "' must be between 1 and " + Integer.MAX_VALUE
                            + " bytes");
                }
                return (int) size;
            });
        }
    }

    /** {@code HOST[:PORT]}, {@code [IPv6]:PORT}; the port the subclass names applies when none is given. */
    public abstract static class Address implements CommandLine.ITypeConverter<HostPort> {

        private final int defaultPort;

        /** {@code defaultPort}: the port of an address written without one, or -1 to require a port. */
        protected Address(int defaultPort) {
            this.defaultPort = defaultPort;
        }

        @Override
        public HostPort convert(String value) {
            return parse(() -> HostPort.parse(value, defaultPort));
        }
    }

    /** Where the agent link goes ({@code --gateway}, {@code --listen}): the port defaults to 20000. */
    public static final class LinkAddress extends Address {
        public LinkAddress() {
            super(Protocol.DEFAULT_GATEWAY_PORT);
        }
    }

    /** {@code HOST:PORT} with the port required (a backend). */
    public static final class HostAndPort extends Address {
        public HostAndPort() {
            super(-1);
        }
    }
}
