package io.diglett.agent;

import io.diglett.common.Directories;
import io.diglett.common.transport.Fingerprint;
import java.nio.file.Path;

/**
 * How the agent checks the gateway it dials.
 *
 * @param plaintext     no TLS at all (the gateway must run with --plaintext too)
 * @param insecure      TLS, but any certificate is accepted (a warning is logged)
 * @param pin           the certificate fingerprint the gateway must present, or {@code null}
 * @param knownGateways the trust-on-first-use file, or {@code null} to refuse certificates that neither chain
 *                      to the system trust store nor match the pin
 */
public record TrustSettings(boolean plaintext, boolean insecure, Fingerprint pin, Path knownGateways) {

    public TrustSettings {
        if (plaintext && (insecure || pin != null)) {
            throw new IllegalArgumentException("--plaintext cannot be combined with --insecure or --fingerprint");
        }
        if (insecure && pin != null) {
            throw new IllegalArgumentException("--insecure cannot be combined with --fingerprint");
        }
    }

    /** The default: TLS; system trust store, else trust on first use recorded in {@code knownGateways}. */
    public static TrustSettings tofu(Path knownGateways) {
        return new TrustSettings(false, false, null, knownGateways);
    }

    public static TrustSettings pinned(Fingerprint pin) {
        return new TrustSettings(false, false, pin, null);
    }

    public static TrustSettings plain() {
        return new TrustSettings(true, false, null, null);
    }

    /** The default known-gateways file: {@code known_gateways} in the configuration directory. */
    public static Path defaultKnownGateways(Directories directories) {
        return directories.config().resolve("known_gateways");
    }
}
