package io.diglett.agent;

import io.diglett.common.HostPort;
import io.diglett.common.transport.BufferSettings;
import io.diglett.protocol.Names;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.mux.Heartbeat;
import java.time.Duration;
import java.util.List;

/**
 * Settings of an agent.
 *
 * @param gateway              where the gateway listens for agents
 * @param token                handed to the gateway at login; empty for none
 * @param tunnels              the names to register, each with its backend
 * @param window               per-stream receive window, bytes
 * @param trust                how the gateway's identity is checked
 * @param handshakeTimeout     time for TLS, login and registration before the agent gives up
 * @param connectTimeoutMillis how long a backend connect may take before the stream is refused
 * @param maxPendingConnects   backend connects in progress at once; further Opens wait for a slot
 * @param maxStreams           streams open at once; further Opens are refused
 * @param heartbeat            Ping interval on an idle link; three silent intervals declare it dead
 * @param reconnectCap         longest wait between reconnect attempts
 * @param buffers              what streams may hold for backends that do not take their bytes
 * @param links                links kept to the gateway in one session (protocol version 5), 1 to {@link #MAX_LINKS}
 * @param otherGateways        more gateways of the same cluster (after {@code gateway}), dialled in turn when one
 *                             cannot be reached or its link is lost
 */
public record AgentConfig(HostPort gateway, String token, List<TunnelSpec> tunnels, int window, TrustSettings trust,
                          Duration handshakeTimeout, int connectTimeoutMillis, int maxPendingConnects,
                          int maxStreams, Duration heartbeat, Duration reconnectCap, BufferSettings buffers,
                          int links, List<HostPort> otherGateways) {

    public static final int DEFAULT_CONNECT_TIMEOUT_MILLIS = 10_000;
    public static final int DEFAULT_MAX_PENDING_CONNECTS = 256;
    public static final int DEFAULT_MAX_STREAMS = 16_384;
    public static final Duration DEFAULT_RECONNECT_CAP = Duration.ofSeconds(30);
    public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
    /** Most links an agent keeps; the gateway's default --max-links-per-agent. */
    public static final int MAX_LINKS = 16;
    /** Most links by default, however many cores the machine has. */
    public static final int MAX_DEFAULT_LINKS = 8;
    /** Longest token: the Login frame's limit, less the instance id that follows the token. */
    public static final int MAX_TOKEN_BYTES = io.diglett.protocol.FrameKind.LOGIN.maxPayload()
            - io.diglett.protocol.Requests.Login.INSTANCE_BYTES;

    public AgentConfig {
        tunnels = List.copyOf(tunnels);
        otherGateways = otherGateways == null ? List.of() : List.copyOf(otherGateways);
        if (tunnels.isEmpty()) {
            throw new IllegalArgumentException("at least one name is needed");
        }
        for (TunnelSpec tunnel : tunnels) {
            String problem = Names.problem(tunnel.name());
            if (problem != null) {
                throw new IllegalArgumentException(problem);
            }
        }
        if (window < Protocol.MIN_WINDOW) {
            throw new IllegalArgumentException("window must be at least " + Protocol.MIN_WINDOW + " bytes");
        }
        token = token == null ? "" : token;
        if (token.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_TOKEN_BYTES) {
            throw new IllegalArgumentException("the token is longer than " + MAX_TOKEN_BYTES + " bytes");
        }
        if (token.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("the token contains a NUL character");
        }
        if (maxPendingConnects < 1 || connectTimeoutMillis < 1 || maxStreams < 1) {
            throw new IllegalArgumentException("limits must be at least 1");
        }
        if (links < 1 || links > MAX_LINKS) {
            throw new IllegalArgumentException("links must be between 1 and " + MAX_LINKS);
        }
        if (heartbeat.isNegative() || heartbeat.isZero() || reconnectCap.isNegative()) {
            throw new IllegalArgumentException("the heartbeat must be positive and the reconnect cap not negative");
        }
    }

    /** One tunnel with default limits, trusting the gateway as {@code trust} says. */
    public static AgentConfig of(HostPort gateway, String token, String name, HostPort backend, TrustSettings trust) {
        return new AgentConfig(gateway, token, List.of(new TunnelSpec(name, backend)), Protocol.DEFAULT_WINDOW, trust,
                DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_CONNECT_TIMEOUT_MILLIS, DEFAULT_MAX_PENDING_CONNECTS, DEFAULT_MAX_STREAMS,
                Heartbeat.DEFAULT_INTERVAL, DEFAULT_RECONNECT_CAP, BufferSettings.defaults(), defaultLinks(), List.of());
    }

    /**
     * The links an agent keeps unless told: one per two cores (the machine also runs the service the agent
     * exposes), at least one and at most {@link #MAX_DEFAULT_LINKS}. On two cores that is one link: a second gained
     * nothing there and doubled the HTTPS ingress p99 there (docs/benchmarks.md, "Several links per agent").
     */
    public static int defaultLinks() {
        return defaultLinks(Runtime.getRuntime().availableProcessors());
    }

    /** {@link #defaultLinks()} on a machine of {@code cores}. */
    static int defaultLinks(int cores) {
        return Math.max(1, Math.min(cores / 2, MAX_DEFAULT_LINKS));
    }

    public AgentConfig withGateway(HostPort value) {
        return new AgentConfig(value, token, tunnels, window, trust, handshakeTimeout, connectTimeoutMillis, maxPendingConnects, maxStreams, heartbeat, reconnectCap, buffers, links, otherGateways);
    }

    /** Gateways of one cluster, dialled in this order (the first is {@link #gateway()}). */
    public AgentConfig withGateways(List<HostPort> value) {
        if (value.isEmpty()) {
            throw new IllegalArgumentException("at least one gateway is needed");
        }
        return new AgentConfig(value.get(0), token, tunnels, window, trust, handshakeTimeout, connectTimeoutMillis, maxPendingConnects, maxStreams, heartbeat, reconnectCap, buffers, links, value.subList(1, value.size()));
    }

    /** Every gateway given, in the order they are dialled. */
    public List<HostPort> gateways() {
        List<HostPort> all = new java.util.ArrayList<>();
        all.add(gateway);
        all.addAll(otherGateways);
        return all;
    }

    public AgentConfig withToken(String value) {
        return new AgentConfig(gateway, value, tunnels, window, trust, handshakeTimeout, connectTimeoutMillis, maxPendingConnects, maxStreams, heartbeat, reconnectCap, buffers, links, otherGateways);
    }

    public AgentConfig withTunnels(List<TunnelSpec> value) {
        return new AgentConfig(gateway, token, value, window, trust, handshakeTimeout, connectTimeoutMillis, maxPendingConnects, maxStreams, heartbeat, reconnectCap, buffers, links, otherGateways);
    }

    public AgentConfig withWindow(int value) {
        return new AgentConfig(gateway, token, tunnels, value, trust, handshakeTimeout, connectTimeoutMillis, maxPendingConnects, maxStreams, heartbeat, reconnectCap, buffers, links, otherGateways);
    }

    public AgentConfig withTrust(TrustSettings value) {
        return new AgentConfig(gateway, token, tunnels, window, value, handshakeTimeout, connectTimeoutMillis, maxPendingConnects, maxStreams, heartbeat, reconnectCap, buffers, links, otherGateways);
    }

    public AgentConfig withHandshakeTimeout(Duration value) {
        return new AgentConfig(gateway, token, tunnels, window, trust, value, connectTimeoutMillis, maxPendingConnects, maxStreams, heartbeat, reconnectCap, buffers, links, otherGateways);
    }

    public AgentConfig withMaxPendingConnects(int value) {
        return new AgentConfig(gateway, token, tunnels, window, trust, handshakeTimeout, connectTimeoutMillis, value, maxStreams, heartbeat, reconnectCap, buffers, links, otherGateways);
    }

    public AgentConfig withMaxStreams(int value) {
        return new AgentConfig(gateway, token, tunnels, window, trust, handshakeTimeout, connectTimeoutMillis, maxPendingConnects, value, heartbeat, reconnectCap, buffers, links, otherGateways);
    }

    public AgentConfig withBuffers(BufferSettings value) {
        return new AgentConfig(gateway, token, tunnels, window, trust, handshakeTimeout, connectTimeoutMillis, maxPendingConnects, maxStreams, heartbeat, reconnectCap, value, links, otherGateways);
    }

    public AgentConfig withHeartbeat(Duration value) {
        return new AgentConfig(gateway, token, tunnels, window, trust, handshakeTimeout, connectTimeoutMillis, maxPendingConnects, maxStreams, value, reconnectCap, buffers, links, otherGateways);
    }

    public AgentConfig withLinks(int value) {
        return new AgentConfig(gateway, token, tunnels, window, trust, handshakeTimeout, connectTimeoutMillis, maxPendingConnects, maxStreams, heartbeat, reconnectCap, buffers, value, otherGateways);
    }

    public AgentConfig withReconnectCap(Duration value) {
        return new AgentConfig(gateway, token, tunnels, window, trust, handshakeTimeout, connectTimeoutMillis, maxPendingConnects, maxStreams, heartbeat, value, buffers, links, otherGateways);
    }
}
