package io.diglett.server.config;

import io.diglett.common.HostPort;
import io.diglett.common.transport.BufferSettings;
import io.diglett.protocol.Protocol;
import java.time.Duration;

/**
 * Settings of a gateway.
 *
 * @param listen     where agents dial in
 * @param publicBind address the per-name public listeners bind to
 * @param portRange  ports for public listeners, or {@code null} for any free port the OS gives
 * @param window     per-stream receive window, bytes
 * @param limits     what one agent, and all agents together, may hold
 * @param tls        how the agent link is secured
 * @param ingress    the built-in HTTP/HTTPS ingress for NAME.DOMAIN, or {@link IngressSettings#none()}
 * @param buffers    what streams may hold for sockets that do not take their bytes (read at start only)
 * @param preLogin   what agent connections may hold before they logged in
 * @param forwarding which client-address headers the ingress strips, which upstreams may send PROXY headers
 */
public record GatewayConfig(HostPort listen, String publicBind, PortRange portRange, int window, Limits limits,
                            TlsSettings tls, IngressSettings ingress, BufferSettings buffers,
                            PreLoginLimits preLogin, ForwardingSettings forwarding) {

    /**
     * @param maxAgents          logged-in agent links at once; a further Login is answered with an Error
     * @param maxNamesPerAgent   registrations one agent link may hold
     * @param maxStreamsPerAgent streams open at once through one agent, over all its links; further public
     *                           connections are refused
     * @param handshakeTimeout   time an agent has from connecting to finishing TLS, login and registration
     * @param heartbeat          Ping interval on an idle link; three silent intervals declare it dead
     * @param drainTimeout       on shutdown, how long open streams may take to finish
     * @param maxLinksPerAgent   links one agent's session may have at once, its login link included; a further
     *                           Join is refused
     */
    public record Limits(int maxAgents, int maxNamesPerAgent, int maxStreamsPerAgent, Duration handshakeTimeout,
                         Duration heartbeat, Duration drainTimeout, int maxLinksPerAgent) {
        /** Default links per agent: twice the most an agent opens by default (8). */
        public static final int DEFAULT_MAX_LINKS = 16;
        public static final int DEFAULT_MAX_AGENTS = 1024;
        public static final int DEFAULT_MAX_NAMES = 16;
        /**
         * Default streams per agent with the default buffer budget; {@link #streamsFor} derives it from the
         * budget.
         */
        public static final int DEFAULT_MAX_STREAMS = 16_384;
        /** What one stream is reckoned to cost beside the bytes the buffer budget bounds: objects, a socket. */
        public static final int STREAM_OVERHEAD = 4 * 1024;
        public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
        public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(10);

        public Limits {
            if (maxAgents < 1 || maxNamesPerAgent < 1 || maxStreamsPerAgent < 1 || maxLinksPerAgent < 1) {
                throw new IllegalArgumentException("limits must be at least 1");
            }
            for (Duration d : new Duration[] {handshakeTimeout, heartbeat}) {
                if (d.isNegative() || d.isZero()) {
                    throw new IllegalArgumentException("timeouts and intervals must be positive");
                }
            }
            if (drainTimeout.isNegative()) {
                throw new IllegalArgumentException("the drain timeout must not be negative");
            }
        }

        /**
         * Streams per agent for a buffer budget of {@code budget} bytes: what the budget's bytes would pay for at
         * {@link #STREAM_OVERHEAD} each, between 1,024 and 65,536. Bytes a stream holds are bounded by the
         * budget itself (a stalled stream is shed), so this bounds what streams cost beside them; the default
         * budget of 64 MiB gives {@value #DEFAULT_MAX_STREAMS}.
         */
        public static int streamsFor(long budget) {
            return (int) Math.max(1024, Math.min(65_536, budget / STREAM_OVERHEAD));
        }

        public static Limits defaults() {
            return new Limits(DEFAULT_MAX_AGENTS, DEFAULT_MAX_NAMES, DEFAULT_MAX_STREAMS, DEFAULT_HANDSHAKE_TIMEOUT,
                    io.diglett.protocol.mux.Heartbeat.DEFAULT_INTERVAL, DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_LINKS);
        }

        public Limits withMaxAgents(int value) {
            return new Limits(value, maxNamesPerAgent, maxStreamsPerAgent, handshakeTimeout, heartbeat,
                    drainTimeout, maxLinksPerAgent);
        }

        public Limits withMaxNamesPerAgent(int value) {
            return new Limits(maxAgents, value, maxStreamsPerAgent, handshakeTimeout, heartbeat,
                    drainTimeout, maxLinksPerAgent);
        }

        public Limits withMaxStreamsPerAgent(int value) {
            return new Limits(maxAgents, maxNamesPerAgent, value, handshakeTimeout, heartbeat,
                    drainTimeout, maxLinksPerAgent);
        }

        public Limits withHandshakeTimeout(Duration value) {
            return new Limits(maxAgents, maxNamesPerAgent, maxStreamsPerAgent, value, heartbeat,
                    drainTimeout, maxLinksPerAgent);
        }

        public Limits withHeartbeat(Duration value) {
            return new Limits(maxAgents, maxNamesPerAgent, maxStreamsPerAgent, handshakeTimeout, value,
                    drainTimeout, maxLinksPerAgent);
        }

        public Limits withMaxLinksPerAgent(int value) {
            return new Limits(maxAgents, maxNamesPerAgent, maxStreamsPerAgent, handshakeTimeout, heartbeat, drainTimeout,
                    value);
        }

        public Limits withDrainTimeout(Duration value) {
            return new Limits(maxAgents, maxNamesPerAgent, maxStreamsPerAgent, handshakeTimeout, heartbeat,
                    value, maxLinksPerAgent);
        }
    }

    public GatewayConfig {
        if (window < Protocol.MIN_WINDOW) {
            throw new IllegalArgumentException("window must be at least " + Protocol.MIN_WINDOW + " bytes");
        }
    }

    /**
     * Defaults: agents on 0.0.0.0:20000 over TLS with a certificate generated in the default state directory,
     * public listeners on all interfaces, any port.
     */
    public static GatewayConfig defaults() {
        return new GatewayConfig(new HostPort("0.0.0.0", Protocol.DEFAULT_GATEWAY_PORT), "0.0.0.0", null,
                Protocol.DEFAULT_WINDOW, Limits.defaults(), TlsSettings.generated(TlsSettings.defaultStateDir()),
                IngressSettings.none(), BufferSettings.defaults(), PreLoginLimits.defaults(),
                ForwardingSettings.defaults());
    }

    public GatewayConfig withListen(HostPort value) {
        return new GatewayConfig(value, publicBind, portRange, window, limits, tls,
                ingress, buffers, preLogin, forwarding);
    }

    public GatewayConfig withPublicBind(String value) {
        return new GatewayConfig(listen, value, portRange, window, limits, tls, ingress, buffers, preLogin, forwarding);
    }

    public GatewayConfig withPortRange(PortRange value) {
        return new GatewayConfig(listen, publicBind, value, window, limits, tls,
                ingress, buffers, preLogin, forwarding);
    }

    public GatewayConfig withWindow(int value) {
        return new GatewayConfig(listen, publicBind, portRange, value, limits, tls,
                ingress, buffers, preLogin, forwarding);
    }

    public GatewayConfig withLimits(Limits value) {
        return new GatewayConfig(listen, publicBind, portRange, window, value, tls,
                ingress, buffers, preLogin, forwarding);
    }

    public GatewayConfig withTls(TlsSettings value) {
        return new GatewayConfig(listen, publicBind, portRange, window, limits, value,
                ingress, buffers, preLogin, forwarding);
    }

    public GatewayConfig withIngress(IngressSettings value) {
        return new GatewayConfig(listen, publicBind, portRange, window, limits, tls,
                value, buffers, preLogin, forwarding);
    }

    public GatewayConfig withBuffers(BufferSettings value) {
        return new GatewayConfig(listen, publicBind, portRange, window, limits, tls,
                ingress, value, preLogin, forwarding);
    }

    public GatewayConfig withPreLogin(PreLoginLimits value) {
        return new GatewayConfig(listen, publicBind, portRange, window, limits, tls,
                ingress, buffers, value, forwarding);
    }

    public GatewayConfig withForwarding(ForwardingSettings value) {
        return new GatewayConfig(listen, publicBind, portRange, window, limits, tls, ingress, buffers, preLogin, value);
    }

    public int maxNamesPerAgent() {
        return limits.maxNamesPerAgent();
    }

    public int maxStreamsPerAgent() {
        return limits.maxStreamsPerAgent();
    }
}
