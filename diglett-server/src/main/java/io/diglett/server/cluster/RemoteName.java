package io.diglett.server.cluster;

import io.diglett.protocol.mux.Stream;
import io.diglett.server.link.RemoteHolder;
import io.diglett.server.link.StreamTarget;
import io.netty.channel.Channel;
import java.net.InetSocketAddress;
import java.util.function.Consumer;

/**
 * A name another node of the cluster holds, as this node's ingress and listeners see it: its connections are
 * forwarded to that node ({@link NodeForwarder}), with the holder's claim, so that a holder that lost the name
 * meanwhile refuses them.
 *
 * @param name    the name
 * @param holder  who holds it, as the watch last saw
 * @param address where that node takes forwarded connections
 * @param forwarder this node's side of forwarding
 */
record RemoteName(String name, RemoteHolder holder, InetSocketAddress address, NodeForwarder forwarder)
        implements StreamTarget {

    @Override
    public io.diglett.server.link.VisitorPolicy visitors() {
        return holder.visitors();
    }

    @Override
    public boolean tlsPassthrough() {
        return holder.tlsPassthrough();
    }

    @Override
    public void openStream(Channel client, Stream.LocalEnd end, Consumer<String> done) {
        forwarder.forward(this, client, end, done);
    }
}
