package io.diglett.admin;

import io.diglett.common.HostPort;
import io.diglett.common.cli.ConfigDefaults;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * {@code --admin}, {@code --admin-token} and {@code --admin-host}, the same on both command lines (a picocli
 * mixin).
 */
public final class AdminOptions {

    @Option(names = "--admin", paramLabel = "[HOST:]PORT", converter = AddressConverter.class,
            description = "Serve the admin endpoint here: /metrics (Prometheus) and the JSON API (the gateway also "
                    + "a live dashboard at /). A bare port means localhost. Off by default.")
    public HostPort address;

    @Option(names = "--admin-token", paramLabel = "TOKEN",
            description = "Bearer token the admin endpoint requires, in the Authorization header (also "
                    + "DIGLETT_ADMIN_TOKEN). Required when --admin binds beyond loopback.")
    public String token;

    @Option(names = "--admin-host", paramLabel = "NAME", split = ConfigDefaults.SPLIT, hideParamSyntax = true,
            description = "A Host name the admin endpoint answers besides its own address (a DNS name or reverse "
                    + "proxy in front of it); repeatable. Other names are refused, against DNS rebinding.")
    public List<String> hosts = new ArrayList<>();

    /**
     * Checks the options together: an endpoint beyond loopback needs a token.
     *
     * @throws IllegalArgumentException with the reason, for a usage error
     */
    public void check() {
        if (address != null) {
            AdminServer.requireTokenBeyondLoopback(address, token != null && !token.isEmpty());
        } else if (!hosts.isEmpty()) {
            throw new IllegalArgumentException("--admin-host is for --admin, which is not given");
        }
    }

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
