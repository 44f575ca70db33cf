package io.diglett.common.logging;

/**
 * Log levels from the command line's {@code -d} count, for slf4j-simple (its format is set in each program's
 * {@code simplelogger.properties}). Must run before the first logger is created: slf4j-simple reads the
 * levels once.
 */
public final class Logging {

    private Logging() {
    }

    /** Log lines go to {@code file} (appended) instead of standard error; call before {@link #configure}. */
    public static void toFile(java.nio.file.Path file) throws java.io.IOException {
        java.nio.file.Files.createDirectories(file.toAbsolutePath().getParent());
        System.setProperty("org.slf4j.simpleLogger.logFile", file.toString());
    }

    /** 0: info; 1 ({@code -d}): debug for Diglett; 2 ({@code -dd}): trace for Diglett; 3: Netty's debug log too. */
    public static void configure(int verbosity) {
        String prefix = "org.slf4j.simpleLogger.log.";
        if (verbosity >= 1) {
            System.setProperty(prefix + "io.diglett", verbosity >= 2 ? "trace" : "debug");
        }
        if (verbosity >= 3) {
            System.setProperty(prefix + "io.netty", "debug");
        }
    }
}
