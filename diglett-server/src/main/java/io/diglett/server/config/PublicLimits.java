package io.diglett.server.config;

import java.time.Duration;

/**
 * What public clients (of the per-name ports and of the ingress) may hold; replaced by a reload (SIGHUP) and
 * read at each accept, so it applies to connections accepted afterwards.
 *
 * @param maxConnectionsPerIp connections open at once from one client address (IPv4) or /64 (IPv6), over all
 *                            public ports and the ingress together; further ones are refused; 0: no limit
 * @param ingressIdleTimeout  an ingress HTTP connection with no request in progress and no byte read or written
 *                            for this long is closed; {@link Duration#ZERO}: never
 * @param tcpIdleTimeout      a connection on a per-name port (or a TLS passthrough one) with no byte either way
 *                            for this long is reset; {@link Duration#ZERO}: never
 */
public record PublicLimits(int maxConnectionsPerIp, Duration ingressIdleTimeout, Duration tcpIdleTimeout) {

    public static final int DEFAULT_MAX_CONNECTIONS_PER_IP = 512;
    public static final Duration DEFAULT_INGRESS_IDLE_TIMEOUT = Duration.ofSeconds(60);

    public PublicLimits {
        if (maxConnectionsPerIp < 0) {
            throw new IllegalArgumentException("--max-connections-per-ip must not be negative (0: no limit)");
        }
        if (ingressIdleTimeout.isNegative()) {
            throw new IllegalArgumentException("--ingress-idle-timeout must not be negative (0: none)");
        }
        if (tcpIdleTimeout.isNegative()) {
            throw new IllegalArgumentException("--tcp-idle-timeout must not be negative (0: none)");
        }
    }

    /** 512 connections per client address, 60 s ingress idle timeout, no raw TCP idle timeout. */
    public static PublicLimits defaults() {
        return new PublicLimits(DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_INGRESS_IDLE_TIMEOUT, Duration.ZERO);
    }

    public PublicLimits withMaxConnectionsPerIp(int value) {
        return new PublicLimits(value, ingressIdleTimeout, tcpIdleTimeout);
    }

    public PublicLimits withIngressIdleTimeout(Duration value) {
        return new PublicLimits(maxConnectionsPerIp, value, tcpIdleTimeout);
    }

    public PublicLimits withTcpIdleTimeout(Duration value) {
        return new PublicLimits(maxConnectionsPerIp, ingressIdleTimeout, value);
    }
}
