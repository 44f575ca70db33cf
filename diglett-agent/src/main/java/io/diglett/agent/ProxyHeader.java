package io.diglett.agent;

import io.netty.channel.Channel;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import java.net.Inet6Address;
import java.net.InetSocketAddress;

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

    /** The header for a client at {@code source} that connected to {@code destination} (either may be null). */
    static HAProxyMessage message(TunnelSpec.ProxyProtocol version, InetSocketAddress source,
                                  InetSocketAddress destination) {
        HAProxyProtocolVersion v = version == TunnelSpec.ProxyProtocol.V1 ? HAProxyProtocolVersion.V1
                : HAProxyProtocolVersion.V2;
        if (source == null || destination == null || isV6(source) != isV6(destination)) {
            return v == HAProxyProtocolVersion.V1
                    ? new HAProxyMessage(v, HAProxyCommand.PROXY, HAProxyProxiedProtocol.UNKNOWN, null, null, 0, 0)
                    : new HAProxyMessage(v, HAProxyCommand.LOCAL, HAProxyProxiedProtocol.UNKNOWN, null, null, 0, 0);
        }
        HAProxyProxiedProtocol family = isV6(source) ? HAProxyProxiedProtocol.TCP6 : HAProxyProxiedProtocol.TCP4;
        return new HAProxyMessage(v, HAProxyCommand.PROXY, family, source.getAddress().getHostAddress(),
                destination.getAddress().getHostAddress(), source.getPort(), destination.getPort());
    }

    /** Writes the header to {@code backend} (call on its event loop, before anything else is written). */
    static void write(Channel backend, TunnelSpec.ProxyProtocol version, InetSocketAddress source,
                      InetSocketAddress destination) {
        HAProxyMessage message = message(version, source, destination);
        backend.pipeline().addFirst(ENCODER, HAProxyMessageEncoder.INSTANCE);
        try {
            backend.writeAndFlush(message);
        } finally {
            backend.pipeline().remove(ENCODER);
        }
    }

    private static boolean isV6(InetSocketAddress address) {
        return address.getAddress() instanceof Inet6Address;
    }
}
