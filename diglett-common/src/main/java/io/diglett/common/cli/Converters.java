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
