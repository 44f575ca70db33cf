package io.diglett.server;

import io.diglett.protocol.HostPort;
import io.diglett.protocol.Logging;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.Sizes;
import io.diglett.protocol.Version;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code diglett-server}: the gateway's command line. */
@Command(name = "diglett-server", mixinStandardHelpOptions = true,
        versionProvider = ServerCommand.VersionProvider.class, sortOptions = false, usageHelpAutoWidth = true,
        description = "The Diglett gateway: agents dial in and register names; for each name it opens a public "
                + "port whose connections are carried to that agent's backend.",
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:stopped by a signal", "1:could not start (e.g. the listen address is taken)",
                "2:wrong arguments"})
public final class ServerCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-l", "--listen"}, paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:20000",
            converter = ListenConverter.class, description = "Where agents dial in (default: ${DEFAULT-VALUE}).")
    HostPort listen;

    @Option(names = {"-d", "--debug"}, description = "More log output: -d debug, -dd trace.")
    boolean[] debug = new boolean[0];

    @Option(names = "--bind", paramLabel = "ADDRESS", defaultValue = "0.0.0.0",
            description = "Address the public per-name listeners bind to (default: ${DEFAULT-VALUE}).")
    String bind;

    @Option(names = "--port-range", paramLabel = "LOW-HIGH", converter = PortRangeConverter.class,
            description = "Ports for public listeners (default: any free port the system assigns).")
    PortRange portRange;

    @Option(names = "--window", paramLabel = "BYTES", defaultValue = "256k", converter = WindowConverter.class,
            description = "Per-stream receive window (default: ${DEFAULT-VALUE}).")
    int window;

    @Option(names = "--max-names-per-agent", paramLabel = "N", defaultValue = "" + GatewayConfig.DEFAULT_MAX_NAMES,
            description = "Names one agent may register (default: ${DEFAULT-VALUE}).")
    int maxNames;

    @Option(names = "--max-streams-per-agent", paramLabel = "N",
            defaultValue = "" + GatewayConfig.DEFAULT_MAX_STREAMS,
            description = "Public connections open at once through one agent (default: ${DEFAULT-VALUE}).")
    int maxStreams;

    public static void main(String[] args) {
        System.exit(new CommandLine(new ServerCommand()).execute(args));
    }

    @Override
    public Integer call() throws InterruptedException {
        Logging.configure(debug.length);
        Logger log = LoggerFactory.getLogger(ServerCommand.class);
        GatewayConfig config;
        try {
            config = GatewayConfig.defaults().withListen(listen).withPublicBind(bind).withPortRange(portRange)
                    .withWindow(window).withLimits(maxNames, maxStreams);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        Gateway gateway = new Gateway(config);
        try {
            gateway.start();
        } catch (Exception e) {
            log.error("cannot listen for agents on {}: {}", listen, e.getMessage());
            gateway.close();
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log.info("shutting down");
            gateway.close();
            stopped.countDown();
        }, "diglett-shutdown"));
        stopped.await();
        return 0;
    }

    private static <T> T convert(Supplier<T> parse) {
        try {
            return parse.get();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }

    static final class VersionProvider implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {Version.describe("diglett-server")};
        }
    }

    static final class ListenConverter implements CommandLine.ITypeConverter<HostPort> {
        @Override
        public HostPort convert(String value) {
            return ServerCommand.convert(() -> HostPort.parse(value, Protocol.DEFAULT_GATEWAY_PORT));
        }
    }

    static final class PortRangeConverter implements CommandLine.ITypeConverter<PortRange> {
        @Override
        public PortRange convert(String value) {
            return ServerCommand.convert(() -> PortRange.parse(value));
        }
    }

    static final class WindowConverter implements CommandLine.ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return ServerCommand.convert(() -> Sizes.window(value));
        }
    }
}
