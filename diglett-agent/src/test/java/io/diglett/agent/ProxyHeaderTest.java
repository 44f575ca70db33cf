package io.diglett.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/** The PROXY protocol header built from an Open's addresses. */
class ProxyHeaderTest {

    private static final InetSocketAddress CLIENT4 = new InetSocketAddress("203.0.113.9", 51234);
    private static final InetSocketAddress GATEWAY4 = new InetSocketAddress("198.51.100.1", 443);
    private static final InetSocketAddress CLIENT6 = new InetSocketAddress("2001:db8::1", 40000);
    private static final InetSocketAddress GATEWAY6 = new InetSocketAddress("2001:db8::ff", 8443);

    private static String describe(HAProxyMessage message) {
        try {
            return message.protocolVersion() + " " + message.command() + " " + message.proxiedProtocol() + " "
                    + message.sourceAddress() + ":" + message.sourcePort() + " " + message.destinationAddress() + ":"
                    + message.destinationPort();
        } finally {
            message.release();
        }
    }

    @Test
    void bothAddressesOfOneFamilyAreTheHeader() {
        assertEquals("V1 PROXY TCP4 203.0.113.9:51234 198.51.100.1:443",
                describe(ProxyHeader.message(TunnelSpec.ProxyProtocol.V1, CLIENT4, GATEWAY4)));
        assertEquals("V2 PROXY TCP6 2001:db8:0:0:0:0:0:1:40000 2001:db8:0:0:0:0:0:ff:8443",
                describe(ProxyHeader.message(TunnelSpec.ProxyProtocol.V2, CLIENT6, GATEWAY6)));
    }

    @Test
    void anUnknownOrMixedPairSaysUnknown() {
        InetSocketAddress[][] pairs = {{null, GATEWAY4}, {CLIENT4, null}, {CLIENT4, GATEWAY6}};
        for (InetSocketAddress[] pair : pairs) {
            HAProxyMessage v1 = ProxyHeader.message(TunnelSpec.ProxyProtocol.V1, pair[0], pair[1]);
            assertEquals(HAProxyCommand.PROXY, v1.command());
            assertEquals(HAProxyProxiedProtocol.UNKNOWN, v1.proxiedProtocol());
            v1.release();
            HAProxyMessage v2 = ProxyHeader.message(TunnelSpec.ProxyProtocol.V2, pair[0], pair[1]);
            assertEquals(HAProxyCommand.LOCAL, v2.command(), "v2 without addresses: the LOCAL command");
            v2.release();
        }
    }
}
