package io.diglett.server.cluster;

import io.diglett.common.HostPort;
import io.diglett.common.transport.Transport;
import io.diglett.protocol.mux.HandlerNames;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;

/**
 * Where the other nodes forward public connections for the names this node's agents hold ({@code --node-listen}):
 * each connection starts with the forwarding handshake ({@link ForwardAcceptor}) and then is a node link
 * ({@link HolderLink}) whose streams go to the name's agent as a client of this node's own would, or a probe or
 * an alive check answered at once.
 */
public final class ForwardListener implements AutoCloseable {

    /**
     * Connections that have not finished the handshake, at most: more are closed at once, so that whoever can
     * reach the port cannot hold more than this many sockets and their 5 s deadlines.
     */
    public static final int MAX_HANDSHAKING = 512;
    /** Of those, at most this many from one address: one host cannot take every place. */
    public static final int MAX_HANDSHAKING_PER_ADDRESS = 64;

    private final Channel channel;

    private ForwardListener(Channel channel) {
        this.channel = channel;
    }

    static ForwardListener bind(HostPort at, EtcdNameRegistry names, byte[] secret, int window,
                                io.diglett.protocol.mux.FlowLimits flow, int maxStreams, Transport transport,
                                EventLoopGroup acceptor,
                                EventLoopGroup workers) throws InterruptedException {
        java.util.concurrent.atomic.AtomicInteger handshaking = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.ConcurrentMap<java.net.InetAddress, java.util.concurrent.atomic.AtomicInteger> perAddress =
                new java.util.concurrent.ConcurrentHashMap<>();
        ServerBootstrap bootstrap = new ServerBootstrap().group(acceptor, workers)
                .channel(transport.serverChannel())
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, NodeForwarder.WATER_MARK)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        java.net.InetAddress from = ((InetSocketAddress) ch.remoteAddress()).getAddress();
                        java.util.concurrent.atomic.AtomicInteger fromThere = perAddress.computeIfAbsent(from,
                                a -> new java.util.concurrent.atomic.AtomicInteger());
                        if (fromThere.incrementAndGet() > MAX_HANDSHAKING_PER_ADDRESS
                                || handshaking.incrementAndGet() > MAX_HANDSHAKING) {
                            if (fromThere.get() <= MAX_HANDSHAKING_PER_ADDRESS) {
                                handshaking.decrementAndGet();
                            }
                            release(perAddress, from, fromThere);
                            ForwardAcceptor.REFUSED.warn("forwarded connection from {} refused: too many handshakes"
                                    + " at once ({} from one address, {} in all, the limits)", ch.remoteAddress(),
                                    MAX_HANDSHAKING_PER_ADDRESS, MAX_HANDSHAKING);
                            ch.close();
                            return;
                        }
                        ch.pipeline().addLast(HandlerNames.SESSION, new ForwardAcceptor(names, secret, window, flow, maxStreams, () -> {
                            handshaking.decrementAndGet();
                            release(perAddress, from, fromThere);
                        }));
                    }
                });
        return new ForwardListener(bootstrap.bind(at.host(), at.port()).sync().channel());
    }

    private static void release(java.util.concurrent.ConcurrentMap<java.net.InetAddress,
            java.util.concurrent.atomic.AtomicInteger> perAddress, java.net.InetAddress from,
                                java.util.concurrent.atomic.AtomicInteger count) {
        if (count.decrementAndGet() <= 0) {
            perAddress.remove(from, count);
        }
    }

    InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
    }
}
