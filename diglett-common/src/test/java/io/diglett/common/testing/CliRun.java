package io.diglett.common.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.cli.CommandLines;
import io.diglett.common.cli.ConfigDefaults;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;

/**
 * Runs a command line as the programs' {@code main} does ({@link CommandLines#prepare}) with a given
 * environment, and checks what its hidden {@code generate-completion} and {@code gen-manpage} print.
 */
public final class CliRun {

    private CliRun() {
    }

    /** What a run printed and returned. */
    public record Result(int exitCode, String out, String err) {
    }

    /** Runs {@code command} with {@code args} in environment {@code env}. */
    public static Result run(Object command, Map<String, String> env, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = CommandLines.prepare(command, args, env);
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int code = cli.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    /** Parses {@code args} into {@code command} as {@code main} would, without running it. */
    public static <T> T parse(T command, Map<String, String> env, String... args) {
        CommandLines.prepare(command, args, env).parseArgs(args);
        return command;
    }

    /** Writes a config file with mode 600 and returns its path, for {@code --config}. */
    public static String write(Path file, String yaml) throws IOException {
        Files.writeString(file, yaml, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        return file.toString();
    }

    /** Every repeatable option of {@code command} can take a list from the config file (see ConfigDefaults). */
    public static void assertRepeatableOptionsSplit(Object command) {
        for (CommandLine.Model.OptionSpec option : new CommandLine(command).getCommandSpec().options()) {
            assertTrue(!option.isMultiValue() || ConfigDefaults.splits(option),
                    option.longestName() + " needs split = ConfigDefaults.SPLIT");
        }
    }

    /** The completion script lists every option named, and bash (if installed) accepts its syntax. */
    public static void assertCompletion(Object command, String... options) throws Exception {
        Result completion = run(command, Map.of(), "generate-completion");
        assertEquals(0, completion.exitCode(), completion.err());
        for (String option : options) {
            assertTrue(completion.out().contains(option), "completion lacks " + option);
        }
        String bash = shell(completion.out(), "bash", "-n");
        assertTrue(bash == null || bash.isEmpty(), "bash -n: " + bash);
    }

    /**
     * The man page has its sections and every option named, and groff (if installed) renders it without a
     * warning; returns the rendered text (or the troff source without groff).
     */
    public static String assertManPage(Object command, String... options) throws Exception {
        Result page = run(command, Map.of(), "gen-manpage");
        assertEquals(0, page.exitCode(), page.err());
        String troff = page.out();
        for (String section : List.of(".TH ", ".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS",
                ".SH ENVIRONMENT", ".SH EXIT STATUS")) {
            assertTrue(troff.contains(section), "no " + section + " in\n" + troff);
        }
        String warnings = shell(troff, "groff", "-man", "-Tutf8", "-ww", "-z");
        assertTrue(warnings == null || warnings.isEmpty(), "groff warns: " + warnings);
        String rendered = shell(troff, "groff", "-man", "-Tutf8", "-P", "-c", "-P", "-b", "-P", "-u");
        String text = rendered != null ? rendered : troff.replace("\\-", "-");
        for (String option : options) {
            assertTrue(text.contains(option), "the man page lacks " + option + ":\n" + text);
        }
        return text;
    }

    /** What {@code command} prints (both streams) with {@code input} on its standard input; null if not installed. */
    private static String shell(String input, String... command) throws Exception {
        Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException notInstalled) {
            return null;
        }
        process.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
        process.getOutputStream().close();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), String.join(" ", command) + " did not finish");
        return output;
    }
}
