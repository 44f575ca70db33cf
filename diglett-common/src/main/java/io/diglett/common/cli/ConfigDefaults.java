package io.diglett.common.cli;

import io.diglett.common.AtomicFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.Tag;
import org.yaml.snakeyaml.representer.Representer;
import org.yaml.snakeyaml.resolver.Resolver;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

/**
 * Default values for a command's options from {@code DIGLETT_*} environment variables and a YAML file named
 * by {@code --config FILE} (or {@code DIGLETT_CONFIG}). Precedence: command-line arguments, then the
 * environment, then the file, then the defaults in the annotations.
 *
 * <p>Keys are the options' long names without the dashes ({@code listen: 0.0.0.0:20000}); a positional
 * parameter is named by its {@code descriptionKey}. Environment variables are {@code DIGLETT_} and the key in
 * upper case with dashes as underscores ({@code DIGLETT_AUTH_FILE}). Multi-value options take a YAML list
 * (or, for maps, a YAML map) in the file, one value per line in the environment. Booleans are {@code true} or
 * {@code false}; {@code debug} also takes a count. Scalars are read as written: {@code 010} stays
 * {@code "010"}, for the option's own converter.
 *
 * <p>picocli applies a default as one argument: a multi-value option takes several values from the file or
 * the environment only if it declares {@code split = ConfigDefaults.SPLIT} (they arrive joined by NUL, which no
 * command-line argument can contain; {@code hideParamSyntax = true} keeps the split out of the usage). A flag
 * given on the command line gets no default at all, since picocli would flip a {@code true} default to
 * {@code false}.
 */
public final class ConfigDefaults implements CommandLine.IDefaultValueProvider {

    /** The split regex multi-value options declare; see the class comment. */
    public static final String SPLIT = "\\x00";
    private static final String JOIN = "\0";
    static final String PREFIX = "DIGLETT_";
    static final String CONFIG_KEY = "config";

    private final String[] args;
    private final Map<String, String> env;
    private final Path file;
    private final List<String> warnings = new ArrayList<>();
    /** The file's values by key, read on first use; empty without a file. */
    private Map<String, Object> values;
    /** Where each value handed to picocli came from, to name it when picocli cannot convert it. */
    private final Map<ArgSpec, String> sources = new LinkedHashMap<>();

    /**
     * Defaults for a command run with {@code args} in environment {@code env}: the config file is the
     * {@code --config} argument, else {@code DIGLETT_CONFIG}.
     */
    public ConfigDefaults(String[] args, Map<String, String> env) {
        this.args = args.clone();
        this.env = Map.copyOf(env);
        String path = configArgument(args);
        if (path == null) {
            path = nonEmpty(env.get(envName(CONFIG_KEY)));
        }
        this.file = path == null ? null : Path.of(path);
    }

    /**
     * Sets these defaults on {@code cli}, whose options must be declared as the class comment says, and
     * reports a problem with the file (or the environment) as a one-line usage error, exit code 2.
     */
    public static ConfigDefaults install(CommandLine cli, String[] args, Map<String, String> env) {
        ConfigDefaults defaults = new ConfigDefaults(args, env);
        cli.setDefaultValueProvider(defaults);
        CommandLine.IParameterExceptionHandler usual = cli.getParameterExceptionHandler();
        cli.setParameterExceptionHandler((e, arguments) -> {
            if (e instanceof ConfigException) {
                CommandLine failed = e.getCommandLine();
                failed.getErr().println(failed.getColorScheme().errorText(e.getMessage()));
                return failed.getCommandSpec().exitCodeOnInvalidInput();
            }
            String source = e.getArgSpec() == null ? null : defaults.sources.get(e.getArgSpec());
            if (source != null && e.getValue() != null && defaults.gave(e.getArgSpec(), e.getValue())) {
                e = new CommandLine.ParameterException(e.getCommandLine(), e.getMessage() + " (from " + source + ")",
                        e, e.getArgSpec(), e.getValue());
            }
            return usual.handleParseException(e, arguments);
        });
        return defaults;
    }

    /** The defaults {@code spec}'s command line was installed with, or {@code null}. */
    public static ConfigDefaults of(CommandSpec spec) {
        return spec.root().defaultValueProvider() instanceof ConfigDefaults defaults ? defaults : null;
    }

    /** The arguments the command was run with. */
    public String[] args() {
        return args.clone();
    }

    /** The environment the defaults are read from. */
    public Map<String, String> env() {
        return env;
    }

    /** The config file, or {@code null}. */
    public Path file() {
        return file;
    }

    /** What the program should log once logging is set up: a token in a file others may read. */
    public List<String> warnings() {
        return List.copyOf(warnings);
    }

    /** The environment variable of a key: {@code auth-file} is {@code DIGLETT_AUTH_FILE}. */
    public static String envName(String key) {
        return PREFIX + key.toUpperCase(Locale.ROOT).replace('-', '_');
    }

    /** The key of an option or positional parameter of the top command, or {@code null} if it has none. */
    public static String key(ArgSpec arg) {
        if (arg instanceof OptionSpec option) {
            if (option.usageHelp() || option.versionHelp()) {
                return null;
            }
            return option.longestName().replaceFirst("^-+", "");
        }
        String key = ((PositionalParamSpec) arg).descriptionKey();
        return key == null || key.isEmpty() ? null : key;
    }

    /** Whether {@code spec} can take several values from the file or the environment; see the class comment. */
    public static boolean splits(ArgSpec spec) {
        return SPLIT.equals(spec.splitRegex());
    }

    /** Every key of {@code spec}'s options and positional parameters, in declaration order. */
    public static List<String> keys(CommandSpec spec) {
        List<String> keys = new ArrayList<>();
        for (ArgSpec arg : spec.args()) {
            String key = key(arg);
            if (key != null) {
                keys.add(key);
            }
        }
        return keys;
    }

    @Override
    public String defaultValue(ArgSpec arg) {
        if (arg.command().parent() != null) {
            return null; // a subcommand's options (gen-manpage's --dir) are not configured
        }
        String key = key(arg);
        if (key == null) {
            return null;
        }
        String variable = envName(key);
        String fromEnv = nonEmpty(env.get(variable));
        if (key.equals(CONFIG_KEY)) {
            return fromEnv;
        }
        if (arg instanceof OptionSpec option && option.arity().max() == 0 && !option.isMultiValue()
                && given(option)) {
            return null;
        }
        Map<String, Object> fromFile = values(arg.command());
        String value;
        String source;
        if (fromEnv != null) {
            source = "environment variable " + variable;
            value = text(arg, arg.isMultiValue() ? List.of(fromEnv.split("\\R")) : fromEnv, source);
        } else if (fromFile.get(key) != null) {
            source = "config file " + file + ", key '" + key + "'";
            value = text(arg, fromFile.get(key), source);
        } else {
            return null;
        }
        if (value != null) {
            sources.put(arg, source);
        }
        return value;
    }

    /** Whether the command line names {@code option} (not counting short options clustered as in -dv). */
    private boolean given(OptionSpec option) {
        for (String arg : args) {
            if (arg.equals("--")) {
                return false;
            }
            for (String name : option.names()) {
                if (arg.equals(name) || arg.startsWith(name + "=")) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Whether {@code value}, which picocli could not convert, is (part of) what this provider gave for {@code arg}. */
    private boolean gave(ArgSpec arg, String value) {
        try {
            String given = defaultValue(arg);
            return given != null && List.of(given.split(SPLIT, -1)).contains(value);
        } catch (ConfigException e) {
            return false;
        }
    }

    /** The string picocli converts: one value, or several joined for {@link #SPLIT}; {@code null} for none. */
    private static String text(ArgSpec arg, Object value, String source) {
        if (arg.type() == boolean[].class) {
            int count = count(arg, value, source);
            return count == 0 ? null : String.join(JOIN, java.util.Collections.nCopies(count, "true"));
        }
        if (!arg.isMultiValue()) {
            if (value instanceof Map || value instanceof Collection) {
                throw new ConfigException(arg.command().commandLine(), source + ": expected one value, not a "
                        + (value instanceof Map ? "map" : "list"));
            }
            return value.toString();
        }
        List<String> items = new ArrayList<>();
        if (value instanceof Map<?, ?> map) {
            if (!arg.isOption() || !((OptionSpec) arg).typeInfo().isMap()) {
                throw new ConfigException(arg.command().commandLine(), source + ": expected a list, not a map");
            }
            map.forEach((k, v) -> items.add(k + "=" + scalar(arg, v, source)));
        } else if (value instanceof Collection<?> list) {
            list.forEach(item -> items.add(scalar(arg, item, source)));
        } else {
            items.add(value.toString());
        }
        if (items.size() > 1 && !splits(arg)) {
            throw new ConfigException(arg.command().commandLine(), source + ": give one value (this option takes "
                    + "several only on the command line)");
        }
        return items.isEmpty() ? null : String.join(JOIN, items);
    }

    private static String scalar(ArgSpec arg, Object value, String source) {
        if (value == null || value instanceof Map || value instanceof Collection) {
            throw new ConfigException(arg.command().commandLine(), source + ": each value must be a plain "
                    + "string or number, not " + (value == null ? "empty" : value instanceof Map ? "a map" : "a list"));
        }
        return value.toString();
    }

    /** {@code debug}: true (1), false (0), or a count. */
    private static int count(ArgSpec arg, Object value, String source) {
        String text = value.toString().strip().toLowerCase(Locale.ROOT);
        if (text.equals("true") || text.equals("false")) {
            return text.equals("true") ? 1 : 0;
        }
        try {
            int count = Integer.parseInt(text);
            if (count >= 0) {
                return count;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new ConfigException(arg.command().commandLine(), source + ": expected true, false or a count, not '"
                + value + "'");
    }

    private Map<String, Object> values(CommandSpec spec) {
        if (values == null) {
            values = file == null ? Map.of() : load(spec);
        }
        return values;
    }

    private Map<String, Object> load(CommandSpec spec) {
        CommandLine cli = spec.commandLine();
        String content;
        try {
            content = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ConfigException(cli, "config file " + file + " does not exist");
        } catch (AccessDeniedException e) {
            throw new ConfigException(cli, "cannot read config file " + file + ": permission denied");
        } catch (IOException e) {
            throw new ConfigException(cli, "cannot read config file " + file + ": " + e.getMessage());
        }
        Object document;
        try {
            document = yaml().load(content);
        } catch (MarkedYAMLException e) {
            Mark at = e.getProblemMark();
            throw new ConfigException(cli, "config file " + file + " is not valid YAML: " + e.getProblem()
                    + (at == null ? "" : " (line " + (at.getLine() + 1) + ", column " + (at.getColumn() + 1) + ")"));
        } catch (YAMLException e) {
            throw new ConfigException(cli, "config file " + file + " is not valid YAML: "
                    + e.getMessage().replaceAll("\\s+", " ").strip());
        }
        if (document == null) {
            return Map.of();
        }
        if (!(document instanceof Map<?, ?> map)) {
            throw new ConfigException(cli, "config file " + file + ": expected 'key: value' lines at the top level");
        }
        Set<String> known = new TreeSet<>(keys(spec));
        known.remove(CONFIG_KEY);
        Map<String, Object> read = new LinkedHashMap<>();
        for (Map.Entry<?, ?> entry : map.entrySet()) {
            String key = String.valueOf(entry.getKey());
            if (!known.contains(key)) {
                throw new ConfigException(cli, "config file " + file + ": unknown key '" + key + "' (keys are the "
                        + "long option names without dashes: " + String.join(", ", known) + ")");
            }
            read.put(key, entry.getValue());
        }
        if (read.get("token") != null && AtomicFiles.othersMayRead(file, true)) {
            warnings.add("config file " + file + " holds a token but others may read it: chmod 600 " + file);
        }
        return read;
    }

    /**
     * SnakeYAML, safe (plain maps, lists and strings only), with duplicate keys refused and scalars left as
     * written except {@code true}/{@code false} and empty values: YAML 1.1 would read {@code 010} as 8 and
     * {@code 1:30} as 90.
     */
    private static Yaml yaml() {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        options.setMaxAliasesForCollections(10);
        Resolver resolver = new Resolver() {
            @Override
            protected void addImplicitResolvers() {
                addImplicitResolver(Tag.BOOL, Pattern.compile("^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF");
                addImplicitResolver(Tag.NULL, NULL, "~nN\0");
                addImplicitResolver(Tag.NULL, EMPTY, null);
            }
        };
        DumperOptions dumper = new DumperOptions();
        return new Yaml(new SafeConstructor(options), new Representer(dumper), dumper, options, resolver);
    }

    /** The value of the last {@code --config} argument before {@code --}, or {@code null}. */
    static String configArgument(String[] args) {
        String found = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--")) {
                break;
            } else if (args[i].equals("--" + CONFIG_KEY) && i + 1 < args.length) {
                found = args[++i];
            } else if (args[i].startsWith("--" + CONFIG_KEY + "=")) {
                found = args[i].substring(CONFIG_KEY.length() + 3);
            }
        }
        return found;
    }

    private static String nonEmpty(String value) {
        return value == null || value.isEmpty() ? null : value;
    }

    /** A problem with the config file or the environment: a one-line usage error. */
    static final class ConfigException extends CommandLine.ParameterException {
        private static final long serialVersionUID = 1L;

        ConfigException(CommandLine cli, String message) {
            super(cli, message);
        }
    }
}
