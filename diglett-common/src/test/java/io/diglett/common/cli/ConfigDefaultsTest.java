package io.diglett.common.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.testing.CliRun.Result;
import io.diglett.common.testing.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Defaults from DIGLETT_* variables and a YAML file, for a command shaped like the two programs'. */
class ConfigDefaultsTest {

    @TempDir
    Path temp;

    @Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false, synopsisSubcommandLabel = "",
            description = "Demonstrates the config file: and more.", exitCodeList = {"0:fine", "2:wrong arguments"})
    static final class Demo implements Callable<Integer> {
        @Option(names = {"-l", "--listen"}, paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:20000",
                description = "Where (default: ${DEFAULT-VALUE}).")
        String listen;

        @Option(names = "--max", defaultValue = "7")
        int max;

        @Option(names = {"-n", "--name"}, split = ConfigDefaults.SPLIT, hideParamSyntax = true)
        List<String> names;

        @Option(names = "--opt", paramLabel = "KEY=VALUE", split = ConfigDefaults.SPLIT, hideParamSyntax = true)
        Map<String, String> options = new LinkedHashMap<>();

        @Option(names = "--unsplit")
        List<String> unsplit;

        @Option(names = "--flag")
        boolean flag;

        @Option(names = {"-d", "--debug"}, split = ConfigDefaults.SPLIT)
        boolean[] debug = new boolean[0];

        @Option(names = "--token")
        String token;

        @Option(names = "--config")
        Path config;

        @Parameters(index = "0", arity = "0..1", descriptionKey = "backend")
        String backend;

        @Override
        public Integer call() {
            return 0;
        }
    }

    private String config(String yaml) throws Exception {
        return CliRun.write(temp.resolve("demo.yaml"), yaml);
    }

    private static Demo parse(Map<String, String> env, String... args) {
        return CliRun.parse(new Demo(), env, args);
    }

    @Test
    void theCommandLineBeatsTheEnvironmentWhichBeatsTheFileWhichBeatsTheDefault() throws Exception {
        String file = config("listen: file:1\nmax: 3\n");
        Map<String, String> env = Map.of("DIGLETT_LISTEN", "env:2");
        assertEquals("arg:3", parse(env, "--config", file, "-l", "arg:3").listen);
        assertEquals("env:2", parse(env, "--config", file).listen);
        assertEquals("file:1", parse(Map.of(), "--config=" + file).listen);
        assertEquals("0.0.0.0:20000", parse(Map.of()).listen);
        assertEquals(3, parse(env, "--config", file).max);
        assertEquals("file:1", parse(Map.of("DIGLETT_CONFIG", file)).listen, "DIGLETT_CONFIG names the file");
        assertEquals(Path.of(file), parse(Map.of("DIGLETT_CONFIG", file)).config);
        assertEquals("0.0.0.0:20000", parse(Map.of("DIGLETT_LISTEN", "")).listen, "empty is unset");
    }

    @Test
    void listsMapsFlagsAndCountsFromYaml() throws Exception {
        String file = config("""
                name: [web=localhost:8080, api=localhost:9000]
                opt: {dir: /srv/x, timeout-ms: 500}
                flag: true
                debug: 2
                backend: localhost:9000
                """);
        Demo demo = parse(Map.of(), "--config", file);
        assertEquals(List.of("web=localhost:8080", "api=localhost:9000"), demo.names);
        assertEquals(Map.of("dir", "/srv/x", "timeout-ms", "500"), demo.options);
        assertTrue(demo.flag);
        assertEquals(2, demo.debug.length);
        assertEquals("localhost:9000", demo.backend);

        Demo overridden = parse(Map.of("DIGLETT_OPT", "a=1\nb=2"), "--config", file, "-n", "only", "--flag", "-d",
                "elsewhere:1");
        assertEquals(List.of("only"), overridden.names, "command-line values replace the file's");
        assertEquals(Map.of("a", "1", "b", "2"), overridden.options, "one value per line in the environment");
        assertTrue(overridden.flag, "a flag on the command line does not flip the file's true");
        assertEquals(1, overridden.debug.length);
        assertEquals("elsewhere:1", overridden.backend);
        assertFalse(parse(Map.of("DIGLETT_FLAG", "false"), "--config", file).flag);

        String listed = config("opt: [k=v, x=y]\nname: solo\ndebug: false\n");
        Demo other = parse(Map.of(), "--config", listed);
        assertEquals(Map.of("k", "v", "x", "y"), other.options);
        assertEquals(List.of("solo"), other.names);
        assertArrayEquals(new boolean[0], other.debug);
    }

    @Test
    void scalarsReachTheConverterAsWritten() throws Exception {
        // YAML 1.1 would read 1:30 as 90 (base 60) and 010 as 8 (octal)
        Demo demo = parse(Map.of(), "--config", config("listen: 1:30\ntoken: 010\nmax: 010\n"));
        assertEquals("1:30", demo.listen);
        assertEquals("010", demo.token);
        assertEquals(10, demo.max);
    }

    @Test
    void mistakesAreOneLineUsageErrors() throws Exception {
        Object[][] cases = {
            {"lisen: x:1\n", "unknown key 'lisen'"},
            {"listen: [a, b]\n", "key 'listen': expected one value, not a list"},
            {"unsplit: [a, b]\n", "key 'unsplit': give one value"},
            {"max: lots\n", "'lots' is not an int (from config file"},
            {"listen: x\nlisten: y\n", "is not valid YAML: found duplicate key listen (line 2, column 1)"},
            {"- listen\n", "expected 'key: value' lines"},
            {"opt: {a: [1]}\n", "each value must be a plain string or number"},
            {"debug: -1\n", "expected true, false or a count"},
            {"help: true\n", "unknown key 'help'"},
            {"config: other.yaml\n", "unknown key 'config'"},
        };
        for (Object[] c : cases) {
            String file = config((String) c[0]);
            Result run = CliRun.run(new Demo(), Map.of(), "--config", file);
            assertEquals(2, run.exitCode(), c[0] + ": " + run.err());
            assertTrue(run.err().contains((String) c[1]) && run.err().contains(file),
                    c[0] + " should say " + c[1] + " and name the file: " + run.err());
        }
        Result env = CliRun.run(new Demo(), Map.of("DIGLETT_MAX", "many"));
        assertTrue(env.err().contains("(from environment variable DIGLETT_MAX)"), env.err());
        Result missing = CliRun.run(new Demo(), Map.of(), "--config", temp.resolve("nope.yaml").toString());
        assertEquals(2, missing.exitCode());
        assertEquals("config file " + temp.resolve("nope.yaml") + " does not exist", missing.err().strip());
    }

    @Test
    void aTokenInAFileOthersMayReadIsWarnedAbout() throws Exception {
        Path file = Path.of(config("token: s3cret\n"));
        ConfigDefaults defaults = new ConfigDefaults(new String[] {"--config", file.toString()}, Map.of());
        picocli.CommandLine cli = new picocli.CommandLine(new Demo());
        cli.setDefaultValueProvider(defaults);
        cli.parseArgs("--config", file.toString());
        assertEquals(List.of(), defaults.warnings());

        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        ConfigDefaults readable = new ConfigDefaults(new String[] {"--config", file.toString()}, Map.of());
        cli.setDefaultValueProvider(readable);
        cli.parseArgs("--config", file.toString());
        assertEquals(1, readable.warnings().size());
        assertTrue(readable.warnings().get(0).contains("chmod 600 " + file), readable.warnings().toString());
    }

    @Test
    void theConfigArgumentIsFoundBeforeParsing() {
        assertEquals("a", ConfigDefaults.configArgument(new String[] {"-l", "x", "--config", "a"}));
        assertEquals("b", ConfigDefaults.configArgument(new String[] {"--config=b"}));
        assertNull(ConfigDefaults.configArgument(new String[] {"--", "--config", "c"}));
        assertEquals("DIGLETT_AUTH_FILE", ConfigDefaults.envName("auth-file"));
    }

    @Test
    void completionAndManPage() throws Exception {
        CliRun.assertCompletion(new Demo(), "--listen", "--name", "--config");
        String page = CliRun.assertManPage(new Demo(), "demo - Demonstrates the config file", "--listen=HOST:PORT",
                "Where (default: 0.0.0.0:20000).", "DIGLETT_LISTEN", "--opt=KEY=VALUE", "wrong arguments");
        assertFalse(page.contains("\\x00"), "the split stays out of the synopsis");
    }
}
