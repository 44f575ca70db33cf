package io.diglett.protocol.transport;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/**
 * The event-loop implementation: Linux's native epoll where it loads, Java NIO elsewhere. This only picks
 * classes; it opens nothing. Set {@code -Ddiglett.transport=nio} to force NIO.
 */
public enum Transport {
    EPOLL(EpollServerSocketChannel.class, EpollSocketChannel.class),
    NIO(NioServerSocketChannel.class, NioSocketChannel.class);

    private final Class<? extends ServerChannel> serverChannel;
    private final Class<? extends SocketChannel> socketChannel;

    Transport(Class<? extends ServerChannel> serverChannel, Class<? extends SocketChannel> socketChannel) {
        this.serverChannel = serverChannel;
        this.socketChannel = socketChannel;
    }

    /**
     * Netty settings the programs run with, applied at the start of {@code main} unless set with {@code -D}:
     * <ul>
     * <li>{@code io.netty.allocator.lowMemory=false}. Netty's adaptive allocator judges a heap of 512 MiB or
     * less "low memory" (the launchers cap it at 256 MiB) and then pools only buffers up to 16.5 KiB: every
     * larger one, which is every 64 KiB socket read and TLS record batch of a bulk transfer, became a one-off
     * {@code ByteBuffer.allocateDirect}, zeroed and freed again. A profile of a bulk transfer showed that
     * zeroing alone at about 5% of the CPU time.</li>
     * </ul>
     */
    public static void applyNettyDefaults() {
        if (System.getProperty("io.netty.allocator.lowMemory") == null) {
            System.setProperty("io.netty.allocator.lowMemory", "false");
        }
    }

    /** The best transport available here. */
    public static Transport best() {
        if (!"nio".equalsIgnoreCase(System.getProperty("diglett.transport")) && Epoll.isAvailable()) {
            return EPOLL;
        }
        return NIO;
    }

    /** A new event-loop group of {@code threads} threads (0: Netty's default, twice the cores). */
    public EventLoopGroup newGroup(int threads, String name) {
        IoHandlerFactory factory = this == EPOLL ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), factory);
    }

    public Class<? extends ServerChannel> serverChannel() {
        return serverChannel;
    }

    public Class<? extends SocketChannel> socketChannel() {
        return socketChannel;
    }
}
