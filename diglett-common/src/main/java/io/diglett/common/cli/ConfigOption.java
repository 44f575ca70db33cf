package io.diglett.common.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@code --config}, the same on both command lines (a picocli mixin). {@link ConfigDefaults} reads the file
 * before the options are parsed; this declares the option for help, completion and the man page.
 */
public final class ConfigOption {

    @Option(names = "--config", paramLabel = "FILE",
            description = "YAML file with values for any option: the long name without dashes as the key, a list "
                    + "for a repeatable option, a map for KEY=VALUE options. Command-line options override DIGLETT_* "
                    + "environment variables (DIGLETT_ and the key in upper case with underscores), which override "
                    + "the file. Default: the DIGLETT_CONFIG environment variable.")
    Path file;

    /** The file named by {@code --config} (or {@code DIGLETT_CONFIG}), or {@code null}. */
    public Path file() {
        return file;
    }
}
