package io.diglett.common.cli;

import picocli.CommandLine.Option;

/** {@code --window}, the same on both command lines (a picocli mixin). */
public final class WindowOption {

    @Option(names = "--window", paramLabel = "BYTES", defaultValue = "256k", converter = Converters.Window.class,
            description = "Initial per-stream receive window; a stream's window grows up to 16 times this (at most 4m)"
                    + " while it limits a transfer (default: ${DEFAULT-VALUE}).")
    int bytes;

    /** The window in bytes. */
    public int bytes() {
        return bytes;
    }
}
