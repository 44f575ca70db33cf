package io.diglett.agent;

import io.diglett.common.HostPort;
import io.diglett.protocol.Requests;
import io.netty.channel.Channel;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;

/**
 * The PROXY protocol header (HAProxy's spec, version 1 text or version 2 binary) a backend gets before the
 * client's bytes, built from the addresses in the gateway's Open: the public client, and the gateway address
 * it connected to. Encoded by Netty's {@link HAProxyMessageEncoder}. Without both addresses of one family the
 * header says so: {@code PROXY UNKNOWN} (v1) or the LOCAL command (v2).
 */
final class ProxyHeader {

    private static final String ENCODER = "proxy-protocol";

    private ProxyHeader() {
    }

    /** The header for {@code client}, as a message for {@link HAProxyMessageEncoder}. */
    static HAProxyMessage message(TunnelSpec.ProxyProtocol version, Requests.Addresses client) {
        HAProxyProtocolVersion v = version == TunnelSpec.ProxyProtocol.V1 ? HAProxyProtocolVersion.V1
                : HAProxyProtocolVersion.V2;
        HostPort source = parse(client.client());
        HostPort destination = parse(client.server());
        if (source == null || destination == null || isV6(source) != isV6(destination)) {
            return v == HAProxyProtocolVersion.V1
                    ? new HAProxyMessage(v, HAProxyCommand.PROXY, HAProxyProxiedProtocol.UNKNOWN, null, null, 0, 0)
                    : new HAProxyMessage(v, HAProxyCommand.LOCAL, HAProxyProxiedProtocol.UNKNOWN, null, null, 0, 0);
        }
        HAProxyProxiedProtocol family = isV6(source) ? HAProxyProxiedProtocol.TCP6 : HAProxyProxiedProtocol.TCP4;
        try {
            return new HAProxyMessage(v, HAProxyCommand.PROXY, family, source.host(), destination.host(),
                    source.port(), destination.port());
        } catch (IllegalArgumentException notAnIp) {
            // the gateway sent something that is not an IP address (it should not): say "unknown" rather than fail
            return message(version, new Requests.Addresses(null, null));
        }
    }

    /** Writes the header to {@code backend} (call on its event loop, before anything else is written). */
    static void write(Channel backend, TunnelSpec.ProxyProtocol version, Requests.Addresses client) {
        HAProxyMessage message = message(version, client);
        backend.pipeline().addFirst(ENCODER, HAProxyMessageEncoder.INSTANCE);
        try {
            backend.writeAndFlush(message);
        } finally {
            backend.pipeline().remove(ENCODER);
        }
    }

    private static HostPort parse(String address) {
        if (address == null) {
            return null;
        }
        try {
            return HostPort.parse(address, -1);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static boolean isV6(HostPort address) {
        return address.host().indexOf(':') >= 0;
    }
}
