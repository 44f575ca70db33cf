package io.diglett.common.cli;

import java.time.Duration;
import picocli.CommandLine.Option;

/** {@code --heartbeat}, the same on both command lines (a picocli mixin). */
public final class HeartbeatOption {

    @Option(names = "--heartbeat", paramLabel = "SECONDS", defaultValue = "10",
            description = "Ping an idle agent link this often; three silent intervals declare it dead (default: "
                    + "${DEFAULT-VALUE}).")
    double seconds;

    /** The interval, to the millisecond. */
    public Duration interval() {
        return Duration.ofMillis(Math.round(seconds * 1000));
    }
}
