package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/launch.sh} in a checkout of its own (a module with a pom, a source and a built jar, a dependency, a
 * test-only dependency and an unrelated module), with stand-ins for {@code mvn} and {@code java} on the PATH
 * that record how they were called: when the launcher builds the jar, what it does when it cannot, and that
 * the JVM it starts holds no build lock.
 */
class LauncherTests {

    private static final Path LAUNCHER = Path.of("..", "bin", "launch.sh").toAbsolutePath().normalize();
    private static final List<String> UTILITIES = List.of("readlink", "find", "mktemp",
            "cat", "rm", "cp", "mv", "stat", "touch", "flock", "nice", "sleep");

    @TempDir
    Path temp;
    private Path root;
    private Path tools;
    private Path calls;
    private Path jar;
    private Path source;

    @BeforeEach
    void checkout() throws IOException {
        root = temp.toRealPath();  // the launcher resolves its own path
        Files.createDirectories(root.resolve("bin"));
        Files.copy(LAUNCHER, root.resolve("bin/launch.sh"));
        write(root.resolve("pom.xml"), "<project/>");
        write(root.resolve("diglett-lib/pom.xml"), "<project/>");
        write(root.resolve("diglett-lib/src/main/java/Lib.java"), "class Lib {}");
        write(root.resolve("diglett-testonly/src/main/java/Fixture.java"), "class Fixture {}");
        write(root.resolve("diglett-app/pom.xml"), """
                <project>
                  <parent><artifactId>diglett-parent</artifactId></parent>
                  <artifactId>diglett-app</artifactId>
                  <dependencies>
                    <dependency>
                      <artifactId>diglett-lib</artifactId>
                    </dependency>
                    <dependency>
                      <artifactId>diglett-testonly</artifactId>
                      <scope>test</scope>
                    </dependency>
                  </dependencies>
                </project>
                """);
        source = root.resolve("diglett-app/src/main/java/App.java");
        write(source, "class App {}");
        write(root.resolve("diglett-unrelated/src/main/java/Other.java"), "class Other {}");
        jar = root.resolve("diglett-app/target/diglett-app-all.jar");
        write(jar, "jar");
        try (var files = Files.walk(root)) {
            for (Path file : files.filter(Files::isRegularFile).toList()) {
                Files.setLastModifiedTime(file, ago(3600));
            }
        }
        Files.setLastModifiedTime(jar, ago(60));

        // the PATH holds only these: the stand-ins, and the utilities the launcher (and they) use
        tools = root.resolve("tools");
        calls = root.resolve("calls");
        for (String utility : UTILITIES) {
            Path real = List.of(Path.of("/usr/bin", utility), Path.of("/bin", utility)).stream()
                    .filter(Files::isExecutable).findFirst()
                    .orElseThrow(() -> new IllegalStateException("no " + utility + " in /usr/bin or /bin"));
            Files.createDirectories(tools);
            if (utility.equals("readlink")) {  // records its calls too: plain paths need none
                script(tools.resolve(utility), "echo \"readlink $*\" >> '" + calls + "'\nexec " + real + " \"$@\"\n");
            } else {
                Files.createSymbolicLink(tools.resolve(utility), real);
            }
        }
        // mvn records its arguments and makes a missing jar; like the shade plugin, it leaves an existing jar
        // untouched when the output did not change. It fails while the file "mvn-fails" exists.
        script(tools.resolve("mvn"), "echo \"mvn $*\" >> '" + calls + "'\n"
                + "[ -e '" + root.resolve("mvn-fails") + "' ] && { echo 'COMPILATION ERROR'; exit 1; }\n"
                + "[ -f '" + jar + "' ] || echo built > '" + jar + "'\n");
        // java records its arguments, and whether it inherited the launcher's build lock (fd 9); asked for a
        // class-data archive, it writes one "at exit" and its class list, and creates the marker when WORKING is
        // set (a run that got to work, as the programs do once listening or online); with -Xshare:dump it
        // writes the static archive asked for
        script(tools.resolve("java"), "echo \"java $*\" >> '" + calls + "'\n"
                + "[ -e /proc/$$/fd/9 ] && echo 'java-holds-the-build-lock' >> '" + calls + "'\n"
                + "dump=; for a in \"$@\"; do [ \"$a\" = -Xshare:dump ] && dump=1; done\n"
                + "if [ -n \"$dump\" ] && [ -n \"$DUMP_UNTIL\" ]; then\n"  // a dump that lasts until told
                + "  : > \"$DUMP_UNTIL.started\"\n"
                + "  while ! [ -e \"$DUMP_UNTIL\" ]; do sleep 0.05; done\n"
                + "fi\n"
                + "for a in \"$@\"; do case \"$a\" in\n"
                + "  -XX:ArchiveClassesAtExit=*) echo archive > \"${a#*=}\" ;;\n"
                + "  -XX:DumpLoadedClassList=*) echo classes > \"${a#*=}\" ;;\n"
                + "  -XX:SharedArchiveFile=*) [ -n \"$dump\" ] && echo static > \"${a#*=}\" ;;\n"
                + "  -Ddiglett.cds.marker=*) [ -n \"$WORKING\" ] && : > \"${a#*=}\" ;;\n"
                + "esac; done\n"
                + "exit 0\n");
    }

    @Test
    void aJarNewerThanEverySourceRunsAsItIs() throws Exception {
        Result result = launch();

        assertEquals(0, result.exit, result.output);
        assertEquals(List.of("java"), commands());
    }

    @Test
    void theCheckoutIsFoundFromAPlainPathWithoutReadlinkAndThroughLinksAndRelativePathsWithIt() throws Exception {
        // bin/diglett as it is, for this checkout's module: it sources launch.sh
        String wrapper = Files.readString(LAUNCHER.resolveSibling("diglett"))
                .replace("diglett-agent io.diglett.agent.AgentCommand", "diglett-app io.example.Main");
        assertTrue(wrapper.contains("diglett-app io.example.Main"), wrapper);
        script(root.resolve("bin/app"), wrapper.substring(wrapper.indexOf('\n') + 1));
        Path elsewhere = Files.createDirectories(temp.resolve("elsewhere"));
        Files.createSymbolicLink(elsewhere.resolve("app"), root.resolve("bin/app"));  // as in /usr/local/bin
        Files.createSymbolicLink(elsewhere.resolve("bin"), root.resolve("bin"));  // a linked bin directory
        Path outside = Files.createDirectories(temp.resolve("outside"));

        assertFound(launchFrom(root, root.resolve("bin/launch.sh").toString()), false);
        assertFound(launchFrom(root, root.resolve("bin/app").toString()), false);
        assertFound(launchFrom(root, "bin/launch.sh"), false);
        assertFound(launchFrom(outside, "../bin/launch.sh"), true);
        assertFound(launchFrom(root, "./bin/app"), false);
        assertFound(launchFrom(root, "bin/../bin/app"), true);
        assertFound(launchFrom(outside, elsewhere.resolve("app").toString()), true);
        assertFound(launchFrom(outside, elsewhere.resolve("bin/launch.sh").toString()), true);
        assertFound(launchFrom(outside, elsewhere.resolve("bin/app").toString()), true);
    }

    private Result launchFrom(Path directory, String script) throws Exception {
        Files.deleteIfExists(calls);
        List<String> command = script.endsWith("launch.sh")
                ? List.of("/bin/bash", script, "diglett-app", "io.example.Main", "--flag")
                : List.of("/bin/bash", script, "--flag");
        ProcessBuilder builder = new ProcessBuilder(command).directory(directory.toFile()).redirectErrorStream(true);
        builder.environment().put("PATH", tools.toString());
        builder.environment().put("DIGLETT_CDS", "0");
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "launcher did not finish");
        return new Result(process.exitValue(), script + ": " + output);
    }

    private void assertFound(Result result, boolean readlink) throws IOException {
        assertEquals(0, result.exit, result.output);
        assertEquals(List.of("java"), commands(), result.output);
        assertEquals(readlink, Files.readAllLines(calls).stream().anyMatch(line -> line.startsWith("readlink ")),
                result.output + Files.readAllLines(calls));
    }

    @Test
    void aMissingJarIsBuiltFirst() throws Exception {
        Files.delete(jar);

        Result result = launch();

        assertEquals(0, result.exit, result.output);
        assertEquals(List.of("mvn", "java"), commands());
        assertTrue(result.output.contains("building diglett-app (first run)"), result.output);
    }

    @Test
    void aSourceNewerThanTheJarRebuildsItOnceEvenWhenTheJarComesOutUnchanged() throws Exception {
        Files.setLastModifiedTime(source, ago(30));
        Object inode = Files.getAttribute(jar, "unix:ino");

        Result first = launch();
        Result second = launch();

        assertEquals(0, first.exit, first.output);
        assertTrue(first.output.contains("diglett-app/src/main/java/App.java is newer than the jar"), first.output);
        assertEquals(0, second.exit, second.output);
        assertEquals(List.of("mvn", "java", "java"), commands());
        // a JVM still running from the old jar keeps its file: the rebuilt jar is a new one
        assertNotEquals(inode, Files.getAttribute(jar, "unix:ino"));
        assertTrue(Files.readAllLines(calls).get(0).endsWith("package -pl diglett-app -am"));
    }

    @Test
    void aChangedDependencyOrPomRebuildsButAnUnrelatedOrTestOnlyModuleDoesNot() throws Exception {
        Files.setLastModifiedTime(root.resolve("diglett-unrelated/src/main/java/Other.java"), ago(30));
        Files.setLastModifiedTime(root.resolve("diglett-testonly/src/main/java/Fixture.java"), ago(30));
        launch();
        assertEquals(List.of("java"), commands());

        Files.setLastModifiedTime(root.resolve("diglett-lib/src/main/java/Lib.java"), ago(30));
        launch();
        assertEquals(List.of("java", "mvn", "java"), commands());

        Files.setLastModifiedTime(jar, ago(60));
        Files.setLastModifiedTime(root.resolve("diglett-lib/src/main/java/Lib.java"), ago(3600));
        Files.setLastModifiedTime(root.resolve("pom.xml"), ago(30));
        launch();
        assertEquals(List.of("java", "mvn", "java", "mvn", "java"), commands());
    }

    @Test
    void aStaleJarWithoutMavenRunsWithAWarning() throws Exception {
        Files.setLastModifiedTime(source, ago(30));
        Files.delete(tools.resolve("mvn"));

        Result result = launch();

        assertEquals(0, result.exit, result.output);
        assertEquals(List.of("java"), commands());
        assertTrue(result.output.contains("warning: ") && result.output.contains("is older than its sources "
                + "(diglett-app/src/main/java/App.java is newer than the jar)"), result.output);
    }

    @Test
    void aFailedRebuildRunsTheJarBuiltBeforeWithAWarning() throws Exception {
        Files.setLastModifiedTime(source, ago(30));
        Files.writeString(root.resolve("mvn-fails"), "");

        Result result = launch();

        assertEquals(0, result.exit, result.output);
        assertEquals(List.of("mvn", "java"), commands());
        assertTrue(result.output.contains("COMPILATION ERROR"), result.output);
        assertTrue(result.output.contains("warning: the build failed; running the jar built before"), result.output);
    }

    @Test
    void aFailedFirstBuildStopsWithMavensOutput() throws Exception {
        Files.delete(jar);
        Files.writeString(root.resolve("mvn-fails"), "");

        Result result = launch();

        assertEquals(1, result.exit, result.output);
        assertEquals(List.of("mvn"), commands());
        assertTrue(result.output.contains("COMPILATION ERROR") && result.output.contains("build failed"),
                result.output);
    }

    @Test
    void aRunThatGotToWorkLeavesAClassDataArchiveTheNextStartMaps() throws Exception {
        launch(Map.of("WORKING", "1"));
        String first = javaLine(0);
        Result second = launch(Map.of());

        String partial = option(first, "-XX:ArchiveClassesAtExit=");
        assertTrue(partial.startsWith(jar + ".") && partial.endsWith(".partial"), first);
        assertEquals(partial.replaceAll("\\.partial$", ".ok"), option(first, "-Ddiglett.cds.marker="));
        String archive = partial.replaceAll("\\.\\d+\\.partial$", "");
        assertEquals(archive, option(javaLine(1), "-XX:SharedArchiveFile="), second.output);
        assertTrue(Files.exists(Path.of(archive)));
        // this start also made the static archive in the background (the next test): its files are gone once
        TunnelTests.waitFor(() -> Files.exists(Path.of(archive.replaceAll("\\.jsa$", ".static.jsa"))),
                "the static archive is made");
        try (var left = Files.list(jar.getParent())) {
            assertEquals(List.of(), left.filter(f -> f.toString().matches(".*\\.(partial|ok)$")).toList(),
                    "the partial archive and its marker are gone");
        }
    }

    /**
     * The start that first maps the dynamic archive makes a static one from the first run's class list, in the
     * background; the starts after it map that one, and the dynamic archive is removed.
     */
    @Test
    void theSecondStartMakesAStaticArchiveTheStartsAfterItMap() throws Exception {
        launch(Map.of("WORKING", "1"));
        String first = javaLine(0);
        String classes = option(first, "-XX:DumpLoadedClassList=");
        assertEquals(option(first, "-XX:ArchiveClassesAtExit=").replaceAll("\\.partial$", ".classes"), classes);
        String archive = classes.replaceAll("\\.\\d+\\.classes$", "");
        Path staticArchive = Path.of(archive.replaceAll("\\.jsa$", ".static.jsa"));

        Result second = launch(Map.of());
        assertEquals(archive, option(javaLine(1), "-XX:SharedArchiveFile="), second.output);
        TunnelTests.waitFor(() -> Files.exists(staticArchive), "the static archive is made");
        String dump = dumpLine();
        assertTrue(option(dump, "-XX:SharedClassListFile=").endsWith(".classes"), dump);
        assertTrue(option(dump, "-XX:SharedArchiveFile=").startsWith(staticArchive + "."), dump);
        assertTrue(dump.contains("-cp " + jar), dump);

        Result third = launch(Map.of());
        assertEquals(staticArchive.toString(), option(javaLine(2), "-XX:SharedArchiveFile="), third.output);
        assertFalse(Files.exists(Path.of(archive)), "the dynamic archive is gone");
        try (var left = Files.list(jar.getParent())) {
            assertEquals(List.of(), left.filter(f -> f.toString().matches(".*\\.(partial|ok|classes)$")).toList(),
                    "no partial archive, marker or class list is left");
        }
        assertEquals(1, Files.readAllLines(calls).stream().filter(l -> l.contains("-Xshare:dump")).count(),
                "one static archive is made");
    }

    /** A maker killed before it finished (its pid gone) leaves its class list for the next start to retry. */
    @Test
    void aStaticArchiveMakerThatWasKilledIsRetriedByTheNextStart() throws Exception {
        launch(Map.of("WORKING", "1"));
        String classes = option(javaLine(0), "-XX:DumpLoadedClassList=");
        String archive = classes.replaceAll("\\.\\d+\\.classes$", "");
        Path staticArchive = Path.of(archive.replaceAll("\\.jsa$", ".static.jsa"));
        // the state a killed maker leaves: its claimed class list and a partial archive, under a pid that is gone
        Process exited = new ProcessBuilder(tools.resolve("cat").toString(), "/dev/null").start();
        assertEquals(0, exited.waitFor());
        long gone = exited.pid();
        Path dead = Path.of(staticArchive + "." + gone);
        Files.move(Path.of(classes), Path.of(dead + ".classes"));
        Files.writeString(Path.of(dead + ".partial"), "half");
        Files.move(Path.of(option(javaLine(0), "-XX:ArchiveClassesAtExit=")), Path.of(archive));

        launch(Map.of());
        TunnelTests.waitFor(() -> Files.exists(staticArchive), "the static archive is made");
        assertFalse(Files.exists(Path.of(dead + ".partial")), "the killed maker's partial archive is removed");
        assertTrue(option(dumpLine(), "-XX:SharedClassListFile=").endsWith(".classes"), dumpLine());
    }

    /**
     * The start returns while the static archive is being made (the maker holds none of its output), and a jar
     * rebuilt meanwhile gets no archive made from the old one.
     */
    @Test
    @Timeout(60)
    void aJarRebuiltWhileItsStaticArchiveIsMadeGetsNoneFromTheOldJar() throws Exception {
        launch(Map.of("WORKING", "1"));
        String archive = option(javaLine(0), "-XX:DumpLoadedClassList=").replaceAll("\\.\\d+\\.classes$", "");
        Path staticArchive = Path.of(archive.replaceAll("\\.jsa$", ".static.jsa"));
        Path release = root.resolve("dump-may-end");

        Result second = launch(Map.of("DUMP_UNTIL", release.toString()));
        assertEquals(0, second.exit, second.output);
        TunnelTests.waitFor(() -> Files.exists(Path.of(release + ".started")), "the dump has started");
        Files.writeString(jar, "rebuilt");
        Files.writeString(release, "");

        TunnelTests.waitFor(() -> makerFiles().isEmpty(), "the maker is done");
        assertFalse(Files.exists(staticArchive), "no static archive of the old jar");
    }

    /** The files of a static archive being made: its claimed class list, its partial archive. */
    private List<Path> makerFiles() {
        try (var files = Files.list(jar.getParent())) {
            return files.filter(f -> f.getFileName().toString().matches(".*\\.static\\.jsa\\.\\d+\\..*")).toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void aRunThatStoppedEarlyLeavesNoArchive() throws Exception {
        launch(Map.of());  // a typo, a refused login: the program never says it works
        String first = javaLine(0);
        launch(Map.of());

        String second = javaLine(1);
        assertFalse(second.contains("-XX:SharedArchiveFile="), second);
        assertTrue(second.contains("-XX:ArchiveClassesAtExit="), "the next run tries again: " + second);
        assertFalse(Files.exists(Path.of(option(first, "-XX:ArchiveClassesAtExit="))),
                "the early run's partial archive is removed");
    }

    @Test
    void noArchiveForHelpOrVersion() throws Exception {
        ProcessBuilder builder = new ProcessBuilder("/bin/bash", root.resolve("bin/launch.sh").toString(),
                "diglett-app", "io.example.Main", "--version").redirectErrorStream(true);
        builder.environment().put("PATH", tools.toString());
        Process process = builder.start();
        process.getInputStream().readAllBytes();
        assertEquals(0, process.waitFor());

        assertFalse(javaLine(0).contains("Archive"), javaLine(0));
    }

    /** The index-th recorded program start (a static archive's making is not one). */
    private String javaLine(int index) throws IOException {
        return Files.readAllLines(calls).stream()
                .filter(line -> line.startsWith("java ") && !line.contains("-Xshare:dump")).toList().get(index);
    }

    /** The recorded making of a static archive. */
    private String dumpLine() throws IOException {
        return Files.readAllLines(calls).stream().filter(line -> line.contains("-Xshare:dump")).findFirst()
                .orElseThrow(() -> new AssertionError("no java -Xshare:dump"));
    }

    /** The value of {@code prefix} among a recorded command line's words. */
    private static String option(String line, String prefix) {
        for (String word : line.split(" ")) {
            if (word.startsWith(prefix)) {
                return word.substring(prefix.length());
            }
        }
        throw new AssertionError("no " + prefix + " in " + line);
    }

    private record Result(int exit, String output) {
    }

    private Result launch() throws Exception {
        return launch(Map.of("DIGLETT_CDS", "0"));
    }

    private Result launch(Map<String, String> env) throws Exception {
        ProcessBuilder builder = new ProcessBuilder("/bin/bash", root.resolve("bin/launch.sh").toString(),
                "diglett-app", "io.example.Main", "--flag").redirectErrorStream(true);
        builder.environment().put("PATH", tools.toString());
        builder.environment().remove("DIGLETT_CDS");
        builder.environment().putAll(env);
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "launcher did not finish");
        return new Result(process.exitValue(), output);
    }

    private static FileTime ago(long seconds) {
        return FileTime.from(Instant.now().minusSeconds(seconds));
    }

    /** The first word of each recorded call: which tool ran, in order. */
    private List<String> commands() throws IOException {
        if (!Files.exists(calls)) {
            return List.of();
        }
        List<String> lines = Files.readAllLines(calls);
        for (String line : lines) {
            if (line.startsWith("java ")) {
                assertTrue(line.contains("-cp " + jar) && line.endsWith("io.example.Main --flag"), line);
            }
            assertFalse(line.contains("java-holds-the-build-lock"), "the JVM inherited the launcher's lock");
        }
        return lines.stream().map(line -> line.split(" ", 2)[0]).filter(tool -> !tool.equals("readlink")).toList();
    }

    private static void write(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, text);
    }

    private static void script(Path file, String body) throws IOException {
        write(file, "#!/bin/sh\n" + body);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
}
