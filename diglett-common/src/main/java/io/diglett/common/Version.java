package io.diglett.common;

import io.diglett.protocol.Protocol;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/** The release version, written into a resource at build time. */
public final class Version {

    private static final String VERSION = load();

    private Version() {
    }

    /** The release version, e.g. {@code 0.1.0}. */
    public static String release() {
        return VERSION;
    }

    /** The line {@code --version} prints for {@code program}. */
    public static String describe(String program) {
        return program + " " + VERSION + " (protocol version " + Protocol.VERSION + ", Java "
                + Runtime.version() + ")";
    }

    private static String load() {
        try (InputStream in = Version.class.getResourceAsStream("/diglett-version.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties properties = new Properties();
            properties.load(in);
            return properties.getProperty("version", "unknown");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
