package io.diglett.common.transport;

import io.diglett.protocol.Printable;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringChannelOption;
import io.netty.channel.uring.IoUringDomainSocketChannel;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The event-loop implementation, the best that loads here: Linux's io_uring, else Linux's epoll, else Java NIO.
 * This only picks classes; it opens nothing. {@code -Ddiglett.transport=epoll} (or {@code nio},
 * {@code io_uring}) asks for one; one that does not load here is ignored, and the best that loads is used.
 *
 * <p>Why io_uring first: a relay is mostly socket calls (docs/benchmarks.md). With epoll every read and write
 * of every socket is a system call of its own, plus {@code epoll_wait}; with io_uring an event loop submits the
 * reads and writes of all its sockets and waits for their completions in one {@code io_uring_enter}. At 1,000
 * keep-alive connections that took about a third off the gateway's and the agent's CPU time per request on a
 * two-core machine (docs/benchmarks.md). A socket with nothing to read holds no buffer either way: without a
 * buffer ring, Netty's io_uring waits for readability (a poll) before it submits a read.
 */
public enum Transport {
    IO_URING(IoUringServerSocketChannel.class, IoUringSocketChannel.class, IoUringDomainSocketChannel.class),
    EPOLL(EpollServerSocketChannel.class, EpollSocketChannel.class, EpollDomainSocketChannel.class),
    NIO(NioServerSocketChannel.class, NioSocketChannel.class, NioDomainSocketChannel.class);

    /** The system property that asks for a transport by name: io_uring, epoll or nio. */
    public static final String PROPERTY = "diglett.transport";

    private final Class<? extends ServerChannel> serverChannel;
    private final Class<? extends SocketChannel> socketChannel;
    private final Class<? extends Channel> domainSocketChannel;

    Transport(Class<? extends ServerChannel> serverChannel, Class<? extends SocketChannel> socketChannel,
            Class<? extends Channel> domainSocketChannel) {
        this.serverChannel = serverChannel;
        this.socketChannel = socketChannel;
        this.domainSocketChannel = domainSocketChannel;
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
     * <li>{@code io.netty.jfr.enabled=false}. Netty's allocator declares JDK Flight Recorder events for its
     * chunks and buffers; the first buffer it hands out then sets up the recorder's event metadata, which took
     * 0.15 s of the agent's 1.0 s from launch to dialing the gateway on a 2-core machine, whether a recording
     * runs or not. Who records Netty's allocator events passes {@code -Dio.netty.jfr.enabled=true}.</li>
     * </ul>
     */
    public static void applyNettyDefaults() {
        setUnlessSet("io.netty.allocator.lowMemory", "false");
        setUnlessSet("io.netty.leakDetection.samplingInterval", String.valueOf(LEAK_SAMPLING_INTERVAL));
        setUnlessSet("io.netty.jfr.enabled", "false");
    }

    /** One buffer in this many is tracked by Netty's leak detection in the programs (see above). */
    static final int LEAK_SAMPLING_INTERVAL = 1024;

    private static void setUnlessSet(String property, String value) {
        if (System.getProperty(property) == null) {
            System.setProperty(property, value);
        }
    }

    /**
     * The transport the programs use: the one {@value #PROPERTY} names if it loads here, else the best that
     * loads.
     */
    public static Transport best() {
        String asked = System.getProperty(PROPERTY);
        if (asked != null) {
            for (Transport transport : values()) {
                if (transport.label().equalsIgnoreCase(asked.trim()) && transport.isAvailable()) {
                    return transport;
                }
            }
        }
        return available().get(0);
    }

    /**
     * Why the transport {@value #PROPERTY} asks for is not the one {@link #best()} uses, for the programs' first
     * lines (a name no transport has, or the reason Netty gives for one that does not load here); empty when
     * nothing is asked or it loads.
     */
    public static Optional<String> askedButUnavailable() {
        String asked = System.getProperty(PROPERTY);
        if (asked == null) {
            return Optional.empty();
        }
        Transport best = best();
        for (Transport transport : values()) {
            if (transport.label().equalsIgnoreCase(asked.trim())) {
                return transport == best ? Optional.empty()
                        : Optional.of(String.format("-D%s=%s: %s does not load here (%s); using %s", PROPERTY,
                                Printable.of(asked), transport.label(), Printable.of(transport.unavailability()),
                                best.label()));
            }
        }
        return Optional.of(String.format("-D%s=%s: no such transport (io_uring, epoll or nio); using %s", PROPERTY,
                Printable.of(asked), best.label()));
    }

    /** Netty's reason this transport does not load here. */
    private String unavailability() {
        Throwable cause = switch (this) {
            case IO_URING -> IoUring.unavailabilityCause();
            case EPOLL -> Epoll.unavailabilityCause();
            case NIO -> null;
        };
        if (cause == null) {
            return "no reason given";
        }
        while (cause.getCause() != null && cause.getMessage() != null
                && cause.getMessage().startsWith("failed to load the required native library")) {
            cause = cause.getCause();
        }
        return cause.getMessage() != null ? cause.getMessage() : cause.getClass().getSimpleName();
    }

    /** Every transport that loads here, best first (NIO always). */
    public static List<Transport> available() {
        return Arrays.stream(values()).filter(Transport::isAvailable).toList();
    }

    /** Whether this transport loads here: its native library for this system, and the kernel lets it run. */
    public boolean isAvailable() {
        return switch (this) {
            case IO_URING -> IoUring.isAvailable();
            case EPOLL -> Epoll.isAvailable();
            case NIO -> true;
        };
    }

    /** The name in log lines and for {@value #PROPERTY}: io_uring, epoll, nio. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** A new event-loop group of {@code threads} threads (0: Netty's default, twice the cores). */
    public EventLoopGroup newGroup(int threads, String name) {
        IoHandlerFactory factory = switch (this) {
            case IO_URING -> IoUringIoHandler.newFactory();
            case EPOLL -> HalfClosedEpoll.newFactory();
            case NIO -> NioIoHandler.newFactory();
        };
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), factory);
    }

    /** TCP_NOTSENT_LOWAT of this transport, or null where there is none (NIO). */
    private ChannelOption<Long> notSentLowAt() {
        return switch (this) {
            case IO_URING -> IoUringChannelOption.TCP_NOTSENT_LOWAT;
            case EPOLL -> EpollChannelOption.TCP_NOTSENT_LOWAT;
            case NIO -> null;
        };
    }

    /**
     * Bounds what the kernel queues unsent on each connection {@code bootstrap} accepts: with io_uring or epoll,
     * TCP_NOTSENT_LOWAT (a write fails with EAGAIN once that much is unsent, whatever the send buffer's
     * autotuned size, so a client that does not read holds {@code bytes} of kernel memory rather than up to
     * 4 MiB; what is in flight still grows with the congestion window); with NIO, the send buffer's size.
     */
    public ServerBootstrap limitUnsentAccepted(ServerBootstrap bootstrap, int bytes) {
        ChannelOption<Long> option = notSentLowAt();
        return option != null ? bootstrap.childOption(option, (long) bytes)
                : bootstrap.childOption(ChannelOption.SO_SNDBUF, bytes);
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
     * keeps its unsent queue at {@link #LINK_UNSENT_WHILE_SHORT} (TCP_NOTSENT_LOWAT; io_uring and epoll), well
     * within the share; afterwards {@link #LINK_UNSENT}. Netty's own queue in front of it still holds what the
     * streams wrote.
     */
    public static void shortOfMemory(Channel link, boolean memoryShort) {
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
     * Sets the unsent queue of an open socket (TCP_NOTSENT_LOWAT, 0 for the system's default; io_uring and epoll:
     * on NIO the send buffer, set when it was opened, stays).
     */
    public static void holdUnsent(Channel socket, int bytes) {
        if (!socket.isOpen()) {
            return;
        }
        ChannelOption<Long> option = null;
        for (Transport transport : values()) {
            if (transport.socketChannel.isInstance(socket)) {
                option = transport.notSentLowAt();
            }
        }
        if (option != null) {
            try {
                socket.config().setOption(option, (long) bytes);
            } catch (RuntimeException e) {
                // closed meanwhile: nothing to hold
            }
        }
    }

    /** {@link #limitUnsentAccepted} for the connections {@code bootstrap} makes. */
    public Bootstrap limitUnsent(Bootstrap bootstrap, int bytes) {
        ChannelOption<Long> option = notSentLowAt();
        return option != null ? bootstrap.option(option, (long) bytes) : bootstrap.option(ChannelOption.SO_SNDBUF, bytes);
    }

    public Class<? extends ServerChannel> serverChannel() {
        return serverChannel;
    }

    public Class<? extends SocketChannel> socketChannel() {
        return socketChannel;
    }

    /** The channel class for a unix domain socket on this transport's event loops. */
    public Class<? extends Channel> domainSocketChannel() {
        return domainSocketChannel;
    }

    /** {@code address} as this transport's domain socket channel connects to it. */
    public SocketAddress domainAddress(UnixDomainSocketAddress address) {
        return this == NIO ? address : new DomainSocketAddress(address.getPath().toString());
    }
}
