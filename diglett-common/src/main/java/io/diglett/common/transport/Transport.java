package io.diglett.common.transport;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
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
     * <li>{@code io.netty.leakDetection.samplingInterval=1024}. Netty's default leak detection tracks one
     * buffer in 128 and records a stack trace for each tracked buffer when it is allocated and when it is
     * released: 2.6% of the gateway's busiest thread in a profile of a four-stream upload, 0.9% with one in
     * 1,024 (warm-up included, when stack traces cost the most). A leak on a per-frame path is still tracked within a tenth of a second of a
     * transfer (about 15,000 buffers a second) and reported once the garbage collector finds the lost buffer.
     * The tests run with paranoid detection, which tracks every buffer.</li>
     * </ul>
     */
    public static void applyNettyDefaults() {
        setUnlessSet("io.netty.allocator.lowMemory", "false");
        setUnlessSet("io.netty.leakDetection.samplingInterval", String.valueOf(LEAK_SAMPLING_INTERVAL));
    }

    /** One buffer in this many is tracked by Netty's leak detection in the programs (see above). */
    static final int LEAK_SAMPLING_INTERVAL = 1024;

    private static void setUnlessSet(String property, String value) {
        if (System.getProperty(property) == null) {
            System.setProperty(property, value);
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
        IoHandlerFactory factory = this == EPOLL ? HalfClosedEpoll.newFactory() : NioIoHandler.newFactory();
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), factory);
    }

    /**
     * Bounds what the kernel queues unsent on each connection {@code bootstrap} accepts: with epoll,
     * TCP_NOTSENT_LOWAT (a write fails with EAGAIN once that much is unsent, whatever the send buffer's
     * autotuned size, so a client that does not read holds {@code bytes} of kernel memory rather than up to
     * 4 MiB; what is in flight still grows with the congestion window); with NIO, the send buffer's size.
     */
    public ServerBootstrap limitUnsentAccepted(ServerBootstrap bootstrap, int bytes) {
        if (this == EPOLL) {
            return bootstrap.childOption(EpollChannelOption.TCP_NOTSENT_LOWAT, (long) bytes);
        }
        return bootstrap.childOption(ChannelOption.SO_SNDBUF, bytes);
    }

    /** What an agent link's kernel send queue is held to while memory is short ({@link #shortOfMemory}). */
    public static final int LINK_UNSENT_WHILE_SHORT = 32 * 1024;

    /**
     * What an agent link's kernel send queue is held to otherwise. Left to autotuning it grew to 4 MiB under a
     * bulk transfer, and a small response written after it waited for all of it to leave (several ms on
     * loopback at 5 Gbit/s); the streams' own order (light ones first) only applies in front of the kernel.
     */
    public static final int LINK_UNSENT = 512 * 1024;

    /**
     * While the kernel's socket memory is past its pressure mark, it lets a socket grow its buffers only within a
     * fair share (the hard limit over the number of sockets: a couple of hundred KiB with thousands of sockets),
     * and an agent link, which carries every stream of an agent, is clamped first. While memory is short the link
     * keeps its unsent queue at {@link #LINK_UNSENT_WHILE_SHORT} (TCP_NOTSENT_LOWAT; epoll only), well within the
     * share; afterwards {@link #LINK_UNSENT}. Netty's own queue in front of it still holds what
     * the streams wrote.
     */
    public static void shortOfMemory(io.netty.channel.Channel link, boolean memoryShort) {
        holdUnsent(link, memoryShort ? LINK_UNSENT_WHILE_SHORT : LINK_UNSENT);
    }

    /**
     * What a stream socket's kernel queue of unsent bytes is held to while memory is tight for its stream. A
     * client that reads nothing takes a window of credit, and at most this much more, before the gateway finds
     * it stuck (its bytes wait in the process, where the stream can be shed); with the usual 128 KiB, three
     * thousand such clients made the agent link carry three times their windows first, through a link the
     * kernel was clamping.
     */
    public static final int STREAM_UNSENT_WHILE_TIGHT = 16 * 1024;

    /**
     * Sets the unsent queue of an open socket (TCP_NOTSENT_LOWAT, 0 for the system's default; epoll only: on NIO
     * the send buffer, set when it was opened, stays).
     */
    public static void holdUnsent(io.netty.channel.Channel socket, int bytes) {
        if (socket instanceof io.netty.channel.epoll.EpollSocketChannel epoll && epoll.isOpen()) {
            try {
                epoll.config().setTcpNotSentLowAt(bytes);
            } catch (RuntimeException e) {
                // closed meanwhile: nothing to hold
            }
        }
    }

    /** {@link #limitUnsentAccepted} for the connections {@code bootstrap} makes. */
    public Bootstrap limitUnsent(Bootstrap bootstrap, int bytes) {
        if (this == EPOLL) {
            return bootstrap.option(EpollChannelOption.TCP_NOTSENT_LOWAT, (long) bytes);
        }
        return bootstrap.option(ChannelOption.SO_SNDBUF, bytes);
    }

    public Class<? extends ServerChannel> serverChannel() {
        return serverChannel;
    }

    public Class<? extends SocketChannel> socketChannel() {
        return socketChannel;
    }
}
