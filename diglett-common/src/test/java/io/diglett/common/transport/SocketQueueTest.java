package io.diglett.common.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.diglett.protocol.mux.FlowLimits;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.uring.IoUringChannelOption;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The kernel queues of real sockets follow the memory situation: a stream socket's unsent queue is held to
 * 16 KiB while memory is tight and goes back to {@code --socket-unsent}; a link keeps 512 KiB, 32 KiB while
 * memory is short.
 */
class SocketQueueTest {

    /** Each transport with TCP_NOTSENT_LOWAT, where it loads. */
    @ParameterizedTest
    @EnumSource(names = {"IO_URING", "EPOLL"})
    void streamSocketsAndLinksGetTheUnsentQueueOfTheMemorySituation(Transport transport) throws Exception {
        assumeTrue(transport.isAvailable(), transport + " does not load here");
        ChannelOption<Long> unsentQueue = transport == Transport.IO_URING ? IoUringChannelOption.TCP_NOTSENT_LOWAT
                : EpollChannelOption.TCP_NOTSENT_LOWAT;
        EventLoopGroup group = transport.newGroup(1, "socket-queue-test");
        try {
            Channel server = new ServerBootstrap().group(group).channel(transport.serverChannel())
                    .childHandler(new ChannelInboundHandlerAdapter())
                    .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            Channel socket = transport.limitUnsent(new Bootstrap(), 64 * 1024).group(group)
                    .channel(transport.socketChannel()).handler(new ChannelInboundHandlerAdapter())
                    .connect(server.localAddress()).sync().channel();
            try {
                assertEquals(64 * 1024, socket.config().getOption(unsentQueue), "set when connecting");
                int unsent = 128 * 1024;
                FlowLimits.SocketQueue sockets = new BufferSettings(1 << 20, 1 << 20, 1 << 20, Duration.ZERO, unsent)
                        .flowLimits().sockets();
                sockets.memoryTight(socket, true);
                assertEquals(Transport.STREAM_UNSENT_WHILE_TIGHT, socket.config().getOption(unsentQueue));
                sockets.memoryTight(socket, false);
                assertEquals(unsent, socket.config().getOption(unsentQueue));

                Transport.shortOfMemory(socket, true);
                assertEquals(Transport.LINK_UNSENT_WHILE_SHORT, socket.config().getOption(unsentQueue));
                Transport.shortOfMemory(socket, false);
                assertEquals(Transport.LINK_UNSENT, socket.config().getOption(unsentQueue));
            } finally {
                socket.close().sync();
                server.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
