package io.diglett.server.config;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Automatic certificates from an ACME server ({@code --acme}) for the HTTPS ingress, and optionally for the agent
 * link.
 *
 * @param directory       the ACME server's directory URL
 * @param email           contact address of the account, or {@code null}
 * @param caCert          PEM certificates to trust for the ACME server's own HTTPS besides the system's, or
 *                        {@code null}
 * @param dnsHook         command run for DNS-01 ({@code /bin/sh -c}), or {@code null}: then one wildcard
 *                        certificate through DNS-01; without it a certificate per name through TLS-ALPN-01
 * @param linkName        the gateway's own host name to get a certificate for the agent link, or {@code null}
 * @param weeklyLimit     new certificates per 7 days over all names (renewals do not count)
 * @param weeklyPerToken  new certificates per 7 days for the names of one token
 * @param stateDir        where the account key, the certificates and their keys are kept
 * @param hookTimeout     how long the DNS hook may run
 */
public record AcmeSettings(URI directory, String email, Path caCert, String dnsHook, String linkName,
                           int weeklyLimit, int weeklyPerToken, Path stateDir, Duration hookTimeout) {

    /** Let's Encrypt's production directory, the default. */
    public static final URI LETS_ENCRYPT = URI.create("https://acme-v02.api.letsencrypt.org/directory");
    /** Let's Encrypt's staging directory: untrusted certificates, generous limits; for trying a setup. */
    public static final URI LETS_ENCRYPT_STAGING = URI.create("https://acme-staging-v02.api.letsencrypt.org/directory");
    /** Below Let's Encrypt's 50 certificates per registered domain per week, with room for the wildcard. */
    public static final int DEFAULT_WEEKLY_LIMIT = 40;
    public static final int DEFAULT_WEEKLY_PER_TOKEN = 10;

    public AcmeSettings {
        if (directory == null || !("https".equals(directory.getScheme()) || "http".equals(directory.getScheme()))) {
            throw new IllegalArgumentException("--acme-directory " + directory + ": not an http(s) URL");
        }
        if (weeklyLimit < 0 || weeklyPerToken < 0) {
            throw new IllegalArgumentException("--acme-weekly-limit and --acme-weekly-limit-per-token must not be"
                    + " negative");
        }
        if (email != null && (email.isBlank() || !email.contains("@") || email.chars().anyMatch(c -> c <= ' '))) {
            throw new IllegalArgumentException("--acme-email '" + email + "' is not an e-mail address");
        }
        if (linkName != null) {
            linkName = IngressSettings.normalize(linkName);
        }
        if (dnsHook != null && dnsHook.isBlank()) {
            dnsHook = null;
        }
    }

    /** Whether names share one wildcard certificate through DNS-01 (else one each through TLS-ALPN-01). */
    public boolean wildcard() {
        return dnsHook != null;
    }
}
