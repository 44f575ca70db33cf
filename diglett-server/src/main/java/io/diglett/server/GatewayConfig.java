package io.diglett.server;

import io.diglett.protocol.HostPort;
import io.diglett.protocol.Protocol;

/**
 * Settings of a gateway.
 *
 * @param listen             where agents dial in
 * @param publicBind         address the per-name public listeners bind to
 * @param portRange          ports for public listeners, or {@code null} for any free port the OS gives
 * @param window             per-stream receive window, bytes
 * @param maxNamesPerAgent   registrations one agent link may hold
 * @param maxStreamsPerAgent streams open at once on one agent link; further public connections are refused
 */
public record GatewayConfig(HostPort listen, String publicBind, PortRange portRange, int window,
                            int maxNamesPerAgent, int maxStreamsPerAgent) {

    public static final int DEFAULT_MAX_NAMES = 16;
    public static final int DEFAULT_MAX_STREAMS = 4096;

    public GatewayConfig {
        if (window < Protocol.MIN_WINDOW) {
            throw new IllegalArgumentException("window must be at least " + Protocol.MIN_WINDOW + " bytes");
        }
        if (maxNamesPerAgent < 1 || maxStreamsPerAgent < 1) {
            throw new IllegalArgumentException("limits must be at least 1");
        }
    }

    /** Defaults: agents on 0.0.0.0:20000, public listeners on all interfaces, any port. */
    public static GatewayConfig defaults() {
        return new GatewayConfig(new HostPort("0.0.0.0", Protocol.DEFAULT_GATEWAY_PORT), "0.0.0.0", null,
                Protocol.DEFAULT_WINDOW, DEFAULT_MAX_NAMES, DEFAULT_MAX_STREAMS);
    }

    public GatewayConfig withListen(HostPort value) {
        return new GatewayConfig(value, publicBind, portRange, window, maxNamesPerAgent, maxStreamsPerAgent);
    }

    public GatewayConfig withPublicBind(String value) {
        return new GatewayConfig(listen, value, portRange, window, maxNamesPerAgent, maxStreamsPerAgent);
    }

    public GatewayConfig withPortRange(PortRange value) {
        return new GatewayConfig(listen, publicBind, value, window, maxNamesPerAgent, maxStreamsPerAgent);
    }

    public GatewayConfig withWindow(int value) {
        return new GatewayConfig(listen, publicBind, portRange, value, maxNamesPerAgent, maxStreamsPerAgent);
    }

    public GatewayConfig withLimits(int names, int streams) {
        return new GatewayConfig(listen, publicBind, portRange, window, names, streams);
    }
}
