package io.diglett.admin;

import io.diglett.common.HostPort;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** {@code --admin} and {@code --admin-token}, the same on both command lines (a picocli mixin). */
public final class AdminOptions {

    @Option(names = "--admin", paramLabel = "[HOST:]PORT", converter = AddressConverter.class,
            description = "Serve the admin endpoint here: /metrics (Prometheus) and the JSON API (the gateway also "
                    + "a live dashboard at /). A bare port means localhost. Off by default.")
    public HostPort address;

    @Option(names = "--admin-token", paramLabel = "TOKEN",
            description = "Bearer token the admin endpoint requires (also DIGLETT_ADMIN_TOKEN). Without one, "
                    + "anyone who reaches the address may read it.")
    public String token;

    /** HOST:PORT, or a bare port on localhost. */
    public static final class AddressConverter implements CommandLine.ITypeConverter<HostPort> {
        @Override
        public HostPort convert(String value) {
            try {
                return AdminServer.parseAddress(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }
}
