package io.diglett.agent;

import io.diglett.common.HostPort;

/**
 * One name to register, the backend its connections go to, and how:
 *
 * @param name           the name (a DNS label)
 * @param backend        where its connections go
 * @param proxyProtocol  the PROXY protocol header the backend gets first on each connection, if any
 * @param tlsPassthrough on the gateway's HTTPS ingress, pass the client's TLS through: the backend terminates it
 */
public record TunnelSpec(String name, HostPort backend, ProxyProtocol proxyProtocol, boolean tlsPassthrough) {

    /** The PROXY protocol (HAProxy's, version 1 text or version 2 binary) toward the backend. */
    public enum ProxyProtocol { NONE, V1, V2 }

    public TunnelSpec {
        if (proxyProtocol == null) {
            proxyProtocol = ProxyProtocol.NONE;
        }
    }

    /** A plain tunnel: no PROXY header, TLS terminated by the gateway's ingress. */
    public TunnelSpec(String name, HostPort backend) {
        this(name, backend, ProxyProtocol.NONE, false);
    }

    public TunnelSpec withProxyProtocol(ProxyProtocol value) {
        return new TunnelSpec(name, backend, value, tlsPassthrough);
    }

    public TunnelSpec withTlsPassthrough(boolean value) {
        return new TunnelSpec(name, backend, proxyProtocol, value);
    }
}
