package io.diglett.common.cli;

import io.diglett.common.Version;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/** {@code --version} of both programs: the command's name, the release, the protocol and Java versions. */
public final class VersionProvider implements CommandLine.IVersionProvider {

    @CommandLine.Spec
    CommandSpec spec;

    @Override
    public String[] getVersion() {
        return new String[] {Version.describe(spec.root().name())};
    }
}
