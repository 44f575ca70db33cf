package io.diglett.server;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Keycloak, a real OpenID provider, for the tests: its server distribution (unpacked by the build into
 * target/keycloak, see diglett-server/pom.xml) started in development mode on 127.0.0.1 and a port of its own
 * choosing (read from its log), with one realm imported from a JSON document. Keycloak needs Java 21 or newer: the
 * JDK is found under /usr/lib/jvm (or JAVA_HOME).
 */
final class Keycloak implements AutoCloseable {

    private static final Pattern LISTENING = Pattern.compile("Listening on: http://127\\.0\\.0\\.1:(\\d+)");

    private final Process process;
    private final int port;
    private final Path log;

    private Keycloak(Process process, int port, Path log) {
        this.process = process;
        this.port = port;
        this.log = log;
    }

    /** Starts Keycloak with {@code realm} (a realm representation, JSON) imported; waits until it listens. */
    static Keycloak start(String realm, Path work) throws Exception {
        String home = System.getProperty("diglett.keycloak");
        if (home == null || !Files.isExecutable(Path.of(home, "bin", "kc.sh"))) {
            throw new AssertionError("Keycloak is not unpacked at " + home + ": run the end-to-end tests through"
                    + " Maven (mvn verify), which unpacks org.keycloak:keycloak-quarkus-dist into target/keycloak");
        }
        Path javaHome = java21();
        Path h2 = Path.of(home, "data", "h2"); // an earlier run's database: the realm is imported anew
        if (Files.isDirectory(h2)) {
            try (Stream<Path> files = Files.walk(h2)) {
                for (Path file : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.delete(file);
                }
            }
        }
        Path imports = Path.of(home, "data", "import");
        Files.createDirectories(imports);
        try (Stream<Path> old = Files.list(imports)) {
            for (Path file : old.toList()) {
                Files.delete(file);
            }
        }
        Files.writeString(imports.resolve("realm.json"), realm);
        Path log = work.resolve("keycloak.log");
        ProcessBuilder builder = new ProcessBuilder(Path.of(home, "bin", "kc.sh").toString(), "start-dev",
                "--http-host=127.0.0.1", "--http-port=0", "--import-realm", "--log-level=warn,io.quarkus:info")
                .redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().put("JAVA_HOME", javaHome.toString());
        builder.environment().put("PATH", javaHome.resolve("bin") + ":" + System.getenv("PATH"));
        Process process = builder.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
        while (System.nanoTime() < deadline) {
            Matcher listening = LISTENING.matcher(Files.readString(log, StandardCharsets.ISO_8859_1));
            if (listening.find()) {
                return new Keycloak(process, Integer.parseInt(listening.group(1)), log);
            }
            if (!process.isAlive()) {
                throw new AssertionError("Keycloak stopped:\n" + tail(log));
            }
            process.waitFor(250, TimeUnit.MILLISECONDS);
        }
        stop(process);
        throw new AssertionError("Keycloak did not listen within 240 s:\n" + tail(log));
    }

    /** The issuer URL of {@code realm}. */
    String issuer(String realm) {
        return "http://127.0.0.1:" + port + "/realms/" + realm;
    }

    /** The last lines of its log (for a failure's message). */
    String logTail() throws IOException {
        return tail(log);
    }

    private static String tail(Path log) throws IOException {
        List<String> lines = Files.readAllLines(log, StandardCharsets.ISO_8859_1);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }

    /** A JDK of version 21 or newer: JAVA_HOME if it is one, else the newest under /usr/lib/jvm. */
    static Path java21() throws IOException {
        String env = System.getenv("JAVA_HOME");
        if (env != null && feature(Path.of(env)) >= 21) {
            return Path.of(env);
        }
        Path best = null;
        if (Files.isDirectory(Path.of("/usr/lib/jvm"))) {
            try (Stream<Path> jdks = Files.list(Path.of("/usr/lib/jvm"))) {
                for (Path jdk : jdks.toList()) {
                    if (feature(jdk) >= 21 && (best == null || feature(jdk) > feature(best))) {
                        best = jdk;
                    }
                }
            }
        }
        if (best == null) {
            throw new AssertionError("Keycloak needs a Java 21+ JDK; none under /usr/lib/jvm or JAVA_HOME (bin/test"
                    + " says how to install one)");
        }
        return best;
    }

    /** The feature version in a JDK's {@code release} file, or 0. */
    private static int feature(Path jdk) throws IOException {
        Path release = jdk.resolve("release");
        if (!Files.isRegularFile(release) || !Files.isExecutable(jdk.resolve("bin/java"))) {
            return 0;
        }
        Matcher version = Pattern.compile("JAVA_VERSION=\"(\\d+)").matcher(Files.readString(release));
        return version.find() ? Integer.parseInt(version.group(1)) : 0;
    }

    private static void stop(Process process) {
        process.descendants().forEach(ProcessHandle::destroy);
        process.destroy();
        try {
            if (process.waitFor(20, TimeUnit.SECONDS)) {
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
    }

    @Override
    public void close() {
        stop(process);
    }
}
