package io.diglett.agent;

import io.diglett.common.Directories;
import io.diglett.common.HostPort;
import io.diglett.common.cli.CommandLines;
import io.diglett.common.cli.Converters;
import io.diglett.common.cli.VersionProvider;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.Reasons;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code diglett trust}: the known-gateways file by hand. A recorded gateway identity changes only this way (or
 * by editing the file): the agent itself never replaces a record. {@code helpCommand} tells picocli not to ask
 * for the agent's own required options (--gateway, --name) before it.
 */
@Command(name = "trust", helpCommand = true, mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        subcommands = TrustCommand.Forget.class,
        description = "Manage the gateways this agent trusts (the known-gateways file).")
final class TrustCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /**
     * Picocli runs a help command itself rather than its subcommand (and checks no required parameter after
     * it): this hands over to the subcommand, its --help and --version included.
     */
    @Override
    public Integer call() throws Exception {
        CommandLine.ParseResult sub = spec.commandLine().getParseResult().subcommand();
        if (sub != null && sub.commandSpec().userObject() instanceof Forget forget) {
            CommandLine forgetCli = sub.commandSpec().commandLine();
            if (sub.isUsageHelpRequested()) {
                forgetCli.usage(forgetCli.getOut());
                return 0;
            }
            if (sub.isVersionHelpRequested()) {
                forgetCli.printVersionHelp(forgetCli.getOut());
                return 0;
            }
            return forget.call();
        }
        throw new CommandLine.ParameterException(spec.commandLine(), "Missing subcommand: diglett trust forget HOST[:PORT]");
    }

    @Command(name = "forget", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "Remove the recorded identity of a gateway, after its certificate really changed: the next "
                    + "connection trusts the certificate it is shown, as on first use (or checks it against the "
                    + "system trust store). Compare the fingerprint it then logs with the one the gateway logs.")
    static final class Forget implements Callable<Integer> {

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Parameters(index = "0", arity = "1", paramLabel = "HOST[:PORT]", converter = Converters.LinkAddress.class,
                description = "The gateway as the agent dials it (-g); the port defaults to "
                        + Protocol.DEFAULT_GATEWAY_PORT + ".")
        HostPort gateway;

        @Option(names = "--known-gateways", paramLabel = "FILE",
                description = "The known-gateways file (default: $XDG_CONFIG_HOME/diglett/known_gateways or "
                        + "~/.config/diglett/known_gateways).")
        Path knownGateways;

        @Override
        public Integer call() {
            if (gateway == null) { // as a help command, picocli does not check required parameters itself
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "Missing required parameter: 'HOST[:PORT]'");
            }
            Path file = knownGateways != null ? knownGateways
                    : TrustSettings.defaultKnownGateways(Directories.of(CommandLines.env(spec)));
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            List<String> forgotten;
            try {
                forgotten = new KnownGateways(file).forget(gateway.toString());
            } catch (IOException e) {
                err.println("diglett trust forget: cannot change " + file + ": " + Reasons.of(e));
                err.flush();
                return 1;
            }
            if (forgotten.isEmpty()) {
                err.println("diglett trust forget: " + file + " has no record of " + gateway);
                err.flush();
                return 1;
            }
            out.println("forgot " + gateway + " (" + String.join(", ", forgotten) + ") in " + file
                    + ": the next connection to it is a first connection again");
            out.flush();
            return 0;
        }
    }
}
