package io.diglett.agent;

import io.diglett.common.cli.VersionProvider;
import io.diglett.protocol.Policy;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code diglett hash-password USER}: the salted slow hash of a password, as an operator writes basic auth in the
 * gateway's token file ({@code basic-auth=USER:pbkdf2-sha256:...}). The password is read from the terminal without
 * echo, or from the first line of standard input; it is never an argument (other users of the machine can read
 * those). {@code helpCommand} tells picocli not to ask for the agent's own required options before it.
 */
@Command(name = "hash-password", helpCommand = true, mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Print USER:pbkdf2-sha256:ITERATIONS:SALT:HASH for a password read from the terminal (or the"
                + " first line of standard input): the form of basic-auth=... in the gateway's token file.")
final class HashPasswordCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", arity = "1", paramLabel = "USER", description = "The user name (visible ASCII, no ':').")
    String user;

    /** Where a password comes from without a terminal. */
    java.io.InputStream input = System.in;
    /** The terminal, if there is one. */
    java.io.Console console = System.console();

    @Override
    public Integer call() throws IOException {
        if (user == null) { // as a help command, picocli does not check required parameters itself
            throw new CommandLine.ParameterException(spec.commandLine(), "Missing required parameter: 'USER'");
        }
        String password;
        if (console != null) {
            char[] typed = console.readPassword("password for %s: ", user);
            password = typed == null ? null : new String(typed);
        } else {
            password = new BufferedReader(new InputStreamReader(input, StandardCharsets.UTF_8)).readLine();
        }
        if (password == null || password.isEmpty()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "no password given (on the terminal or"
                    + " the first line of standard input)");
        }
        try {
            spec.commandLine().getOut().println(Policy.BasicCredential.hash(user, password));
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        spec.commandLine().getOut().flush();
        return 0;
    }
}
