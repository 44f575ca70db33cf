package io.diglett.common.cli;

import io.diglett.common.Version;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.Option;

/**
 * A man page in troff ({@code man(7)} macros) rendered from a picocli command's model: NAME, SYNOPSIS,
 * DESCRIPTION, OPTIONS, ARGUMENTS, ENVIRONMENT, FILES and EXIT STATUS. {@code man -l diglett.1} shows it with
 * nothing but the man and groff packages (picocli-codegen's generator writes AsciiDoc, which needs asciidoctor).
 */
public final class ManPage {

    /** An option name in running text: {@code -n}, {@code --tls-passthrough}. */
    private static final Pattern OPTION = Pattern.compile("(?<![\\p{Alnum}-])--?\\p{Alnum}[\\p{Alnum}-]*");

    private ManPage() {
    }

    /** The page for {@code spec}, a top-level command. */
    public static String render(CommandSpec spec) {
        String name = spec.name();
        StringBuilder page = new StringBuilder();
        page.append(".\\\" Generated from the command line's model by '").append(name).append(" gen-manpage'.\n");
        page.append(".TH \"").append(name.toUpperCase(Locale.ROOT)).append("\" \"1\" \"\" \"")
                .append(escape(name + " " + Version.release())).append("\" \"User Commands\"\n");
        page.append(".nh\n.ad l\n"); // no hyphenation (option names), ragged right (the synopsis)
        List<String> description = lines(spec.usageMessage().description());
        page.append(".SH NAME\n").append(escape(name)).append(" \\- ")
                .append(escape(summary(description.isEmpty() ? "" : description.get(0)))).append('\n');
        page.append(".SH SYNOPSIS\n").append(synopsis(spec));
        page.append(".SH DESCRIPTION\n");
        paragraph(page, description);
        page.append(".SH OPTIONS\n");
        for (OptionSpec option : spec.options()) {
            if (!option.hidden()) {
                item(page, optionLabel(option), option);
            }
        }
        List<PositionalParamSpec> positionals = spec.positionalParameters().stream().filter(p -> !p.hidden())
                .toList();
        if (!positionals.isEmpty()) {
            page.append(".SH ARGUMENTS\n");
            for (PositionalParamSpec positional : positionals) {
                item(page, "\\fI" + escape(positional.paramLabel()) + "\\fR", positional);
            }
        }
        page.append(".SH ENVIRONMENT\n");
        page.append(escape("Every option can also be set with an environment variable: DIGLETT_ and its long name "
                + "in upper case, dashes as underscores. Options given on the command line override the "
                + "environment, which overrides the config file. Several values of one option go on separate "
                + "lines.")).append('\n');
        for (ArgSpec arg : spec.args()) {
            String key = ConfigDefaults.key(arg);
            if (key != null && !arg.hidden()) {
                page.append(".TP\n\\fB").append(escape(ConfigDefaults.envName(key))).append("\\fR\n")
                        .append(arg.isOption() ? "As \\fB" + escape(((OptionSpec) arg).longestName()) + "\\fR."
                                : "As the \\fI" + escape(arg.paramLabel()) + "\\fR argument.")
                        .append('\n');
            }
        }
        page.append(".SH FILES\n.TP\n\\fB\\-\\-config\\fR \\fIFILE\\fR\n");
        page.append(escape("A YAML file with a value for any option: its long name without the dashes as the key ("
                + example(spec) + "), a list for an option that may be repeated, a map for KEY=VALUE options, "
                + "true or false for a flag. An unknown key is an error.")).append('\n');
        java.util.Map<String, String> exitCodes = spec.usageMessage().exitCodeList();
        if (!exitCodes.isEmpty()) {
            page.append(".SH EXIT STATUS\n");
            exitCodes.forEach((code, meaning) -> page.append(".TP\n\\fB").append(escape(code.strip()))
                    .append("\\fR\n").append(escape(meaning.strip())).append('\n'));
        }
        return page.toString();
    }

    /** {@code .TP}, the label, then the description. */
    private static void item(StringBuilder page, String label, ArgSpec arg) {
        page.append(".TP\n").append(label).append('\n');
        List<String> lines = lines(arg.description());
        for (int i = 0; i < lines.size(); i++) {
            page.append(i == 0 ? "" : ".br\n").append(escape(lines.get(i).strip())).append('\n');
        }
    }

    /** One line per line of {@code lines}; an indented one (a second example) as written, without filling. */
    private static void paragraph(StringBuilder page, List<String> lines) {
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.startsWith(" ")) {
                page.append(".nf\n").append(escape(line)).append("\n.fi\n");
            } else {
                page.append(i == 0 ? "" : ".br\n").append(escape(line)).append('\n');
            }
        }
    }

    /** {@code -g, --gateway=HOST[:PORT]} in bold and italics. */
    private static String optionLabel(OptionSpec option) {
        List<String> names = new ArrayList<>();
        for (String name : option.names()) {
            names.add("\\fB" + escape(name) + "\\fR");
        }
        String label = String.join(", ", names);
        if (option.arity().max() > 0) {
            label += "=\\fI" + escape(option.paramLabel()) + "\\fR";
        }
        return label;
    }

    /** picocli's own synopsis on one line, the command name in bold; man wraps it. */
    private static String synopsis(CommandSpec spec) {
        boolean autoWidth = spec.usageMessage().autoWidth();
        int width = spec.usageMessage().width();
        try {
            spec.usageMessage().autoWidth(false).width(10_000); // one line: man wraps it
            String text = new CommandLine.Help(spec, CommandLine.Help.defaultColorScheme(CommandLine.Help.Ansi.OFF))
                    .synopsis(0).strip().replaceAll("\\s*\\R\\s*", " ");
            String rest = text.startsWith(spec.name()) ? text.substring(spec.name().length()).strip() : text;
            return ".B " + escape(spec.name()) + "\n" + escape(rest) + "\n";
        } finally {
            spec.usageMessage().autoWidth(autoWidth).width(width);
        }
    }

    /** The first sentence or clause of the description, for NAME. */
    private static String summary(String first) {
        int end = first.length();
        for (String stop : new String[] {": ", ". ", ";"}) {
            int at = first.indexOf(stop);
            if (at > 0 && at < end) {
                end = at;
            }
        }
        return first.substring(0, end).replaceAll("\\.$", "");
    }

    private static String example(CommandSpec spec) {
        List<String> keys = ConfigDefaults.keys(spec);
        return keys.contains("listen") ? "listen: 0.0.0.0:20000" : "gateway: gateway.example.com";
    }

    /** picocli's description lines, with its {@code %n} line breaks applied. */
    private static List<String> lines(String[] description) {
        List<String> lines = new ArrayList<>();
        for (String part : description) {
            for (String line : part.split("%n", -1)) {
                lines.add(line.replace("%%", "%"));
            }
        }
        while (!lines.isEmpty() && lines.get(lines.size() - 1).isBlank()) {
            lines.remove(lines.size() - 1);
        }
        return lines;
    }

    /**
     * Text for troff: backslashes escaped, every dash of an option name ({@code --tls-passthrough}) as
     * {@code \-}, which renders and copies as ASCII and is no place to break a line; a line never starts with a
     * control character.
     */
    static String escape(String text) {
        Matcher option = OPTION.matcher(text.replace("\\", "\\e"));
        StringBuilder escaped = new StringBuilder();
        while (option.find()) {
            option.appendReplacement(escaped, Matcher.quoteReplacement(option.group().replace("-", "\\-")));
        }
        option.appendTail(escaped);
        return escaped.indexOf(".") == 0 || escaped.indexOf("'") == 0 ? "\\&" + escaped : escaped.toString();
    }

    /** The hidden {@code gen-manpage} subcommand: prints the page, or writes NAME.1 into a directory. */
    @Command(name = "gen-manpage", hidden = true, helpCommand = true, mixinStandardHelpOptions = true,
            description = "Writes this program's man page (troff) to standard output, or into --dir as NAME.1.")
    public static final class Generate implements Callable<Integer> {

        @CommandLine.Spec
        CommandSpec spec;

        @Option(names = {"-d", "--dir"}, paramLabel = "DIR",
                description = "Directory to write NAME.1 into, e.g. /usr/local/share/man/man1.")
        Path dir;

        @Override
        public Integer call() throws IOException {
            CommandSpec root = spec.root();
            root.defaultValueProvider(null); // the page shows the built-in defaults, not this environment's
            String page = render(root);
            if (dir == null) {
                spec.commandLine().getOut().print(page);
                spec.commandLine().getOut().flush();
            } else {
                Files.createDirectories(dir);
                Path file = dir.resolve(root.name() + ".1");
                Files.writeString(file, page, StandardCharsets.UTF_8);
                spec.commandLine().getErr().println("wrote " + file);
            }
            return 0;
        }
    }
}
