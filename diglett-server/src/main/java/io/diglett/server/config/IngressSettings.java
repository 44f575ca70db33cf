package io.diglett.server.config;

import io.diglett.common.HostPort;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The built-in ingress: {@code https://NAME.DOMAIN} and {@code http://NAME.DOMAIN} routed to the tunnel named
 * NAME, by the TLS server name (SNI) and the HTTP Host header.
 *
 * @param domain    the domain under which names are served, e.g. {@code gateway.com}; {@code null}: no ingress
 * @param http      where plain HTTP is served, or {@code null}
 * @param https     where HTTPS is served, or {@code null}
 * @param httpsCert PEM certificate chain for {@code *.DOMAIN}, or {@code null} for a generated self-signed one
 * @param httpsKey  PEM private key of {@code httpsCert}
 */
public record IngressSettings(String domain, HostPort http, HostPort https, Path httpsCert, Path httpsKey) {

    public IngressSettings {
        if (domain != null) {
            domain = normalize(domain);
        }
        if (domain == null && (http != null || https != null)) {
            throw new IllegalArgumentException("--http and --https need --domain (names are served as NAME.DOMAIN)");
        }
        if ((httpsCert == null) != (httpsKey == null)) {
            throw new IllegalArgumentException("--https-cert and --https-key go together");
        }
        if (httpsCert != null && https == null) {
            throw new IllegalArgumentException("--https-cert is for --https HOST:PORT, which is not given");
        }
    }

    /** No ingress. */
    public static IngressSettings none() {
        return new IngressSettings(null, null, null, null, null);
    }

    /** Whether any ingress listener is configured. */
    public boolean enabled() {
        return http != null || https != null;
    }

    /** A domain as a host name: lower case, without a trailing dot, made of valid labels. */
    static String normalize(String domain) {
        String d = domain.trim().toLowerCase(Locale.ROOT);
        if (d.endsWith(".")) {
            d = d.substring(0, d.length() - 1);
        }
        if (d.isEmpty() || d.length() > 253 || d.startsWith("*")) {
            throw new IllegalArgumentException("--domain '" + domain + "' is not a domain name like gateway.com");
        }
        for (String label : d.split("\\.", -1)) {
            if (label.isEmpty() || label.length() > 63 || !label.matches("[a-z0-9]([a-z0-9-]*[a-z0-9])?")) {
                throw new IllegalArgumentException("--domain '" + domain + "' is not a domain name like gateway.com");
            }
        }
        return d;
    }
}
