package io.diglett.common.cli;

import io.diglett.common.transport.BufferSettings;
import java.time.Duration;
import picocli.CommandLine.Option;

/**
 * {@code --buffer-budget}, {@code --stall-timeout} and {@code --socket-unsent}, the same on both command lines (a
 * picocli mixin); the gateway adds the per-agent and per-client shares.
 */
public final class BufferOptions {

    @Option(names = "--buffer-budget", paramLabel = "BYTES", defaultValue = "auto",
            converter = Converters.SizeOrAuto.class,
            description = "Bytes all streams together may hold for sockets that have not taken them; a stream over"
                    + " it whose socket is not reading is reset (default: ${DEFAULT-VALUE}, a quarter of the JVM's direct"
                    + " memory).")
    long budget;

    @Option(names = "--stall-timeout", paramLabel = "SECONDS", defaultValue = "60",
            description = "Reset a stream whose socket accepted no byte for this long while data waited for it;"
                    + " while memory is short, after 1 s whatever this says; 0: only then (default: ${DEFAULT-VALUE}).")
    double stallSeconds;

    @Option(names = "--socket-unsent", paramLabel = "BYTES", defaultValue = "128k",
            converter = Converters.IntSize.class,
            description = "Unsent bytes the kernel may queue per connection the tunnel carries (TCP_NOTSENT_LOWAT),"
                    + " instead of send buffers autotuned up to 4 MiB each (default: ${DEFAULT-VALUE}).")
    int unsentPerSocket;

    /** The settings, with the shares the caller passes (-1: derived from the total). */
    public BufferSettings settings(long perLink, long perClient) {
        if (stallSeconds < 0) {
            throw new IllegalArgumentException("--stall-timeout must not be negative");
        }
        return BufferSettings.derive(budget, perLink, perClient, Duration.ofMillis(Math.round(stallSeconds * 1000)),
                unsentPerSocket);
    }
}
