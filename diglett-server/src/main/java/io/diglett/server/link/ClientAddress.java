package io.diglett.server.link;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * Where a public connection comes from and what it reached: the socket's own addresses, or those of the PROXY
 * protocol header an upstream sent first ({@link ProxyHeaderGate}, for addresses of {@code --accept-proxy-from}).
 * Everything that names or counts a client (X-Forwarded-For, the Open's addresses and so the agent's PROXY
 * header, connections and the buffer budget per address) asks here.
 */
public final class ClientAddress {

    /** The client and destination a PROXY header gave, set once on the connection's event loop. */
    static final AttributeKey<InetSocketAddress[]> FROM_PROXY_HEADER = AttributeKey.valueOf("diglett.proxyHeader");

    private ClientAddress() {
    }

    /**
     * Gives {@code channel} the client and destination another party vouched for: a node of the cluster that
     * forwarded the connection. Call on the channel's event loop, before anything asks.
     */
    public static void given(Channel channel, InetSocketAddress client, InetSocketAddress destination) {
        channel.attr(FROM_PROXY_HEADER).set(new InetSocketAddress[] {client, destination});
    }

    /** The client: the PROXY header's source, else the socket's peer. */
    public static SocketAddress remote(Channel channel) {
        InetSocketAddress[] given = channel.attr(FROM_PROXY_HEADER).get();
        return given != null ? given[0] : channel.remoteAddress();
    }

    /** The address the client connected to: the PROXY header's destination, else the socket's own. */
    public static SocketAddress local(Channel channel) {
        InetSocketAddress[] given = channel.attr(FROM_PROXY_HEADER).get();
        return given != null ? given[1] : channel.localAddress();
    }
}
