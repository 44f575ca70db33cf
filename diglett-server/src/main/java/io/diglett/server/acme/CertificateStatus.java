package io.diglett.server.acme;

import java.time.Instant;

/**
 * Where a subject's certificate stands, for {@code /api/tunnels}, {@code /metrics} and the agent's status (a Notice).
 *
 * @param subject  the certificate's first name ({@code NAME.DOMAIN}, {@code *.DOMAIN} or the link's host)
 * @param state    see {@link State}
 * @param notAfter the served certificate's expiry, or {@code null} while none is served
 * @param renewAt  when it is renewed, or {@code null}
 * @param detail   why the last order failed or waits, or {@code null}
 * @param retryAt  when the next order is tried, or {@code null}
 */
public record CertificateStatus(String subject, State state, Instant notAfter, Instant renewAt, String detail,
                                Instant retryAt) {

    /** The certificate's life. */
    public enum State {
        /** Being ordered; the fallback certificate is served meanwhile. */
        PENDING,
        /** Served. */
        VALID,
        /** The last order failed (detail); the fallback (or the old certificate, if still valid) is served. */
        FAILED,
        /** The weekly budget is used up until {@code retryAt}; the fallback is served. */
        LIMITED;

        /** As shown: lower case. */
        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** One line for a status view: {@code valid until 2026-03-04T...}, {@code failed: ...}. */
    public String describe() {
        return switch (state) {
            case VALID -> "valid until " + notAfter;
            case PENDING -> "pending (ordering from the ACME server)";
            case FAILED -> "failed: " + detail + (retryAt == null ? "" : "; next try " + retryAt);
            case LIMITED -> "waiting: " + detail;
        };
    }
}
