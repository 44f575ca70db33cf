package io.diglett.common.cli;

import io.diglett.common.transport.Transport;
import java.util.Map;
import java.util.function.Supplier;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/** What both programs' command lines share. */
public final class CommandLines {

    private CommandLines() {
    }

    /**
     * A program's {@code main}: Netty's settings first ({@link Transport#applyNettyDefaults}, before any Netty
     * class loads), then {@code command} run with {@code args} in this process's environment; exits with its
     * exit code.
     */
    public static void run(Supplier<?> command, String[] args) {
        Transport.applyNettyDefaults();
        System.exit(prepare(command.get(), args, System.getenv()).execute(args));
    }

    /**
     * The command line for {@code command}, run with {@code args} in environment {@code env}: defaults from
     * {@code --config FILE} and {@code DIGLETT_*} ({@link ConfigDefaults}), and the hidden subcommands
     * {@code generate-completion} (a bash/zsh completion script, picocli's) and {@code gen-manpage}
     * ({@link ManPage}).
     */
    public static CommandLine prepare(Object command, String[] args, Map<String, String> env) {
        CommandLine cli = new CommandLine(command);
        ConfigDefaults.install(cli, args, env);
        cli.addSubcommand(new AutoComplete.GenerateCompletion());
        cli.getSubcommands().get("generate-completion").getCommandSpec().usageMessage().hidden(true);
        cli.addSubcommand(new ManPage.Generate());
        return cli;
    }

    /**
     * The environment {@code spec}'s command line was {@link #prepare prepared} with (a test's, say), or this
     * process's if it was not prepared here.
     */
    public static Map<String, String> env(CommandSpec spec) {
        ConfigDefaults defaults = ConfigDefaults.of(spec);
        return defaults != null ? defaults.env() : System.getenv();
    }
}
