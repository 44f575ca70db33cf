package io.diglett.agent;

import io.diglett.common.HostPort;

/**
 * One name to register, the backend its connections go to, and how:
 *
 * @param name           the name (a DNS label)
 * @param backend        where its connections go
 * @param proxyProtocol  the PROXY protocol header the backend gets first on each connection, if any
 * @param tlsPassthrough on the gateway's HTTPS ingress, pass the client's TLS through: the backend terminates it
 * @param rawPort        ask for a raw public port also when the gateway serves the name on its ingress (where
 *                       it has none otherwise; a gateway without an ingress gives every name one)
 * @param policy         who may reach it ({@link Policy}; needs a gateway of protocol version 6)
 */
public record TunnelSpec(String name, HostPort backend, ProxyProtocol proxyProtocol, boolean tlsPassthrough,
                         boolean rawPort, io.diglett.protocol.Policy policy) {

    /** The PROXY protocol (HAProxy's, version 1 text or version 2 binary) toward the backend. */
    public enum ProxyProtocol { NONE, V1, V2 }

    public TunnelSpec {
        if (proxyProtocol == null) {
            proxyProtocol = ProxyProtocol.NONE;
        }
        if (policy == null) {
            policy = io.diglett.protocol.Policy.NONE;
        }
        int size = policy.text().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (size > io.diglett.protocol.FrameKind.POLICY.maxPayload()) {
            throw new IllegalArgumentException("the visitor policy of '" + name + "' takes " + size + " bytes; at most "
                    + io.diglett.protocol.FrameKind.POLICY.maxPayload() + " fit: fewer or shorter rules");
        }
    }

    /** Without a visitor policy. */
    public TunnelSpec(String name, HostPort backend, ProxyProtocol proxyProtocol, boolean tlsPassthrough,
                      boolean rawPort) {
        this(name, backend, proxyProtocol, tlsPassthrough, rawPort, io.diglett.protocol.Policy.NONE);
    }

    /** Without asking for a raw port on a gateway with an ingress. */
    public TunnelSpec(String name, HostPort backend, ProxyProtocol proxyProtocol, boolean tlsPassthrough) {
        this(name, backend, proxyProtocol, tlsPassthrough, false);
    }

    /** A plain tunnel: no PROXY header, TLS terminated by the gateway's ingress. */
    public TunnelSpec(String name, HostPort backend) {
        this(name, backend, ProxyProtocol.NONE, false);
    }

    public TunnelSpec withProxyProtocol(ProxyProtocol value) {
        return new TunnelSpec(name, backend, value, tlsPassthrough, rawPort, policy);
    }

    public TunnelSpec withTlsPassthrough(boolean value) {
        return new TunnelSpec(name, backend, proxyProtocol, value, rawPort, policy);
    }

    public TunnelSpec withRawPort(boolean value) {
        return new TunnelSpec(name, backend, proxyProtocol, tlsPassthrough, value, policy);
    }

    public TunnelSpec withPolicy(io.diglett.protocol.Policy value) {
        return new TunnelSpec(name, backend, proxyProtocol, tlsPassthrough, rawPort, value);
    }

    /** The flags of its Register frame. */
    public int registerFlags() {
        return (tlsPassthrough ? io.diglett.protocol.Requests.FLAG_TLS_PASSTHROUGH : 0)
                | (rawPort ? io.diglett.protocol.Requests.FLAG_RAW_PORT : 0);
    }
}
