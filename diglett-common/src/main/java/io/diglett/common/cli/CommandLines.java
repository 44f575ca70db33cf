package io.diglett.common.cli;

import java.util.Map;
import picocli.AutoComplete;
import picocli.CommandLine;

/** What both programs' command lines share. */
public final class CommandLines {

    private CommandLines() {
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
}
