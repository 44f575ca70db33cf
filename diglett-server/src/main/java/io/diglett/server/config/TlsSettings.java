package io.diglett.server.config;

import io.diglett.common.Directories;
import java.nio.file.Path;

/**
 * How the agent link is secured.
 *
 * @param plaintext no TLS at all (only with the explicit --plaintext flag)
 * @param certFile  PEM certificate chain, or {@code null} for the generated self-signed one
 * @param keyFile   PEM private key for {@code certFile}
 * @param stateDir  where the generated key and certificate are kept
 */
public record TlsSettings(boolean plaintext, Path certFile, Path keyFile, Path stateDir) {

    public TlsSettings {
        if ((certFile == null) != (keyFile == null)) {
            throw new IllegalArgumentException("--tls-cert and --tls-key go together");
        }
    }

    /** TLS with a generated certificate kept in {@code stateDir}. */
    public static TlsSettings generated(Path stateDir) {
        return new TlsSettings(false, null, null, stateDir);
    }

    /** No TLS. */
    public static TlsSettings plain() {
        return new TlsSettings(true, null, null, null);
    }

    /** The default state directory in this process's environment (see {@link Directories}). */
    public static Path defaultStateDir() {
        return Directories.of(System.getenv()).state();
    }
}
