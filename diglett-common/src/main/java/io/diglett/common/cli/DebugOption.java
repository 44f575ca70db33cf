package io.diglett.common.cli;

import picocli.CommandLine.Option;

/** {@code -d} and {@code -dd}, the same on both command lines (a picocli mixin). */
public final class DebugOption {

    @Option(names = {"-d", "--debug"}, split = ConfigDefaults.SPLIT,
            description = "More log output: -d debug, -dd trace.")
    boolean[] debug = new boolean[0];

    /** How often {@code -d} was given: 0 info, 1 debug, 2 trace (see {@code Logging.configure}). */
    public int verbosity() {
        return debug.length;
    }
}
