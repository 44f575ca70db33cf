package io.diglett.server.cli;

import io.diglett.server.config.AcmeSettings;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Option;

/** The gateway's ACME options (docs/operations.md, "Certificates from ACME"): without {@code --acme}, none. */
public final class AcmeOptions {

    @Option(names = "--acme", description = "Obtain certificates for https://NAME.DOMAIN from an ACME server (Let's"
            + " Encrypt by default) and renew them; needs --https and --domain. With --acme-dns-hook one wildcard"
            + " certificate through DNS-01, else one per registered name through TLS-ALPN-01 on the --https"
            + " listener (which must be reachable on port 443). The fallback certificate is served until one arrives.")
    boolean enabled;

    @Option(names = "--acme-directory", paramLabel = "URL",
            description = "The ACME server's directory (default: Let's Encrypt's production directory; its staging"
                    + " directory is https://acme-staging-v02.api.letsencrypt.org/directory).")
    String directory;

    @Option(names = "--acme-email", paramLabel = "ADDRESS",
            description = "Contact address of the ACME account (expiry and policy notices).")
    String email;

    @Option(names = "--acme-ca-cert", paramLabel = "FILE",
            description = "PEM certificates to trust, besides the system's, for the ACME server's own HTTPS (a company"
                    + " CA, a test server).")
    Path caCert;

    @Option(names = "--acme-dns-hook", paramLabel = "COMMAND",
            description = "DNS-01 for one wildcard certificate *.DOMAIN (recommended: names stay out of certificate"
                    + " transparency logs): COMMAND runs with /bin/sh -c and only PATH, ACTION=present|cleanup,"
                    + " DOMAIN, TXT_NAME and TXT_VALUE in its environment; present returns once the TXT record is"
                    + " visible, exit 0 for success.")
    String dnsHook;

    static final long DEFAULT_HOOK_TIMEOUT = 300;

    @Option(names = "--acme-dns-hook-timeout", paramLabel = "SECONDS", defaultValue = "" + DEFAULT_HOOK_TIMEOUT,
            description = "How long --acme-dns-hook may run (default: ${DEFAULT-VALUE}).")
    long hookTimeout;

    @Option(names = "--acme-link-name", paramLabel = "HOST",
            description = "Also obtain a certificate for the gateway's own host name HOST for the agent link, so that"
                    + " agents verify the gateway through the CA, without trust on first use.")
    String linkName;

    @Option(names = "--acme-weekly-limit", paramLabel = "N", defaultValue = "" + AcmeSettings.DEFAULT_WEEKLY_LIMIT,
            description = "New certificates per 7 days over all names; renewals do not count (default:"
                    + " ${DEFAULT-VALUE}, below Let's Encrypt's 50 per registered domain).")
    int weeklyLimit;

    @Option(names = "--acme-weekly-limit-per-token", paramLabel = "N",
            defaultValue = "" + AcmeSettings.DEFAULT_WEEKLY_PER_TOKEN,
            description = "New certificates per 7 days for the names of one token (default: ${DEFAULT-VALUE}).")
    int weeklyPerToken;

    /**
     * The ACME settings, or {@code null} without {@code --acme}.
     *
     * @throws IllegalArgumentException for a wrong value, or an ACME option without {@code --acme}
     */
    AcmeSettings settings(Path stateDir) {
        if (!enabled) {
            if (directory != null || email != null || caCert != null || dnsHook != null || linkName != null
                    || weeklyLimit != AcmeSettings.DEFAULT_WEEKLY_LIMIT
                    || weeklyPerToken != AcmeSettings.DEFAULT_WEEKLY_PER_TOKEN || hookTimeout != DEFAULT_HOOK_TIMEOUT) {
                throw new IllegalArgumentException("--acme-directory, --acme-email, --acme-ca-cert, --acme-dns-hook,"
                        + " --acme-dns-hook-timeout, --acme-link-name and --acme-weekly-limit(-per-token) need --acme");
            }
            return null;
        }
        URI uri = AcmeSettings.LETS_ENCRYPT;
        if (directory != null) {
            try {
                uri = new URI(directory.trim());
            } catch (URISyntaxException e) {
                throw new IllegalArgumentException("--acme-directory " + directory + ": not a URL");
            }
        }
        if (hookTimeout <= 0) {
            throw new IllegalArgumentException("--acme-dns-hook-timeout must be positive");
        }
        return new AcmeSettings(uri, email, caCert, dnsHook, linkName, weeklyLimit, weeklyPerToken, stateDir,
                Duration.ofSeconds(hookTimeout));
    }
}
