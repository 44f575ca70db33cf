package io.diglett.common.cli;

import picocli.CommandLine.Option;

/** {@code --plaintext}, the same on both command lines (a picocli mixin). */
public final class PlaintextOption {

    @Option(names = "--plaintext",
            description = "No TLS on the agent link: the gateway and its agents must all pass --plaintext. Only on"
                    + " trusted networks.")
    boolean plaintext;

    /** Whether the link runs without TLS. */
    public boolean enabled() {
        return plaintext;
    }
}
