package io.diglett.server.config;

import java.time.Duration;

/**
 * Limits on agent connections that have not logged in yet. They are anonymous: anyone who can reach the agent
 * port opens them, so they get their own small budget and short deadlines, apart from {@code --max-agents},
 * which counts logged-in links only. A new connection over its source's limit is closed at once; one that finds
 * the global limit reached takes the place of a pending connection that is closed instead (the oldest that has
 * sent nothing, else the oldest).
 *
 * @param maxPendingLogins      connections before Login at once, from all addresses
 * @param maxPendingLoginsPerIp connections before Login at once from one source: an IPv4 address, or an IPv6
 *                              /64 (what one host usually has)
 * @param firstByteTimeout      time from connecting to the first byte (the TLS ClientHello)
 * @param loginTimeout          time from connecting to Login (TLS, the protocol handshake and Login); the
 *                              registration that follows has the rest of the handshake timeout
 */
public record PreLoginLimits(int maxPendingLogins, int maxPendingLoginsPerIp, Duration firstByteTimeout,
                             Duration loginTimeout) {

    public static final int DEFAULT_MAX_PENDING_LOGINS = 256;
    public static final int DEFAULT_MAX_PENDING_LOGINS_PER_IP = 16;
    public static final Duration DEFAULT_FIRST_BYTE_TIMEOUT = Duration.ofSeconds(3);
    public static final Duration DEFAULT_LOGIN_TIMEOUT = Duration.ofSeconds(5);

    public PreLoginLimits {
        if (maxPendingLogins < 1 || maxPendingLoginsPerIp < 1) {
            throw new IllegalArgumentException("pending login limits must be at least 1");
        }
        for (Duration d : new Duration[] {firstByteTimeout, loginTimeout}) {
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("the first-byte and login timeouts must be positive");
            }
        }
    }

    public static PreLoginLimits defaults() {
        return new PreLoginLimits(DEFAULT_MAX_PENDING_LOGINS, DEFAULT_MAX_PENDING_LOGINS_PER_IP,
                DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_LOGIN_TIMEOUT);
    }

    public PreLoginLimits withMaxPendingLogins(int value) {
        return new PreLoginLimits(value, maxPendingLoginsPerIp, firstByteTimeout, loginTimeout);
    }

    public PreLoginLimits withMaxPendingLoginsPerIp(int value) {
        return new PreLoginLimits(maxPendingLogins, value, firstByteTimeout, loginTimeout);
    }

    public PreLoginLimits withFirstByteTimeout(Duration value) {
        return new PreLoginLimits(maxPendingLogins, maxPendingLoginsPerIp, value, loginTimeout);
    }

    public PreLoginLimits withLoginTimeout(Duration value) {
        return new PreLoginLimits(maxPendingLogins, maxPendingLoginsPerIp, firstByteTimeout, value);
    }
}
