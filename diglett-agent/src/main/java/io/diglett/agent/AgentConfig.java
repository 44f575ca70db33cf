package io.diglett.agent;

import io.diglett.protocol.HostPort;
import io.diglett.protocol.Protocol;
import java.util.List;

/**
 * Settings of an agent.
 *
 * @param gateway            where the gateway listens for agents
 * @param token              handed to the gateway at login; empty for none
 * @param tunnels            the names to register, each with its backend
 * @param window             per-stream receive window, bytes
 * @param connectTimeoutMillis how long a backend connect may take before the stream is refused
 * @param maxPendingConnects backend connects in progress at once; further Opens are refused
 */
public record AgentConfig(HostPort gateway, String token, List<TunnelSpec> tunnels, int window,
                          int connectTimeoutMillis, int maxPendingConnects) {

    public static final int DEFAULT_CONNECT_TIMEOUT_MILLIS = 10_000;
    public static final int DEFAULT_MAX_PENDING_CONNECTS = 256;

    public AgentConfig {
        tunnels = List.copyOf(tunnels);
        if (tunnels.isEmpty()) {
            throw new IllegalArgumentException("at least one name is needed");
        }
        if (window < Protocol.MIN_WINDOW) {
            throw new IllegalArgumentException("window must be at least " + Protocol.MIN_WINDOW + " bytes");
        }
        token = token == null ? "" : token;
    }

    /** One tunnel with default limits. */
    public static AgentConfig of(HostPort gateway, String token, String name, HostPort backend) {
        return new AgentConfig(gateway, token, List.of(new TunnelSpec(name, backend)), Protocol.DEFAULT_WINDOW,
                DEFAULT_CONNECT_TIMEOUT_MILLIS, DEFAULT_MAX_PENDING_CONNECTS);
    }

    public AgentConfig withWindow(int value) {
        return new AgentConfig(gateway, token, tunnels, value, connectTimeoutMillis, maxPendingConnects);
    }
}
