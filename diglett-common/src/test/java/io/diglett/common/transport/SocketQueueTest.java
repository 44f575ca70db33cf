package io.diglett.common.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.diglett.protocol.mux.FlowLimits;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The kernel queues of real sockets follow the memory situation: a stream socket's unsent queue is held to
 * 16 KiB while memory is tight and goes back to {@code --socket-unsent}; a link keeps 512 KiB, 32 KiB while
 * memory is short.
 */
class SocketQueueTest {

    @Test
    void streamSocketsAndLinksGetTheUnsentQueueOfTheMemorySituation() throws Exception {
        assumeTrue(Transport.best() == Transport.EPOLL, "TCP_NOTSENT_LOWAT: epoll only");
        EventLoopGroup group = Transport.EPOLL.newGroup(1, "socket-queue-test");
        try {
            Channel server = new ServerBootstrap().group(group).channel(Transport.EPOLL.serverChannel())
                    .childHandler(new ChannelInboundHandlerAdapter())
                    .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            EpollSocketChannel socket = (EpollSocketChannel) new Bootstrap().group(group)
                    .channel(Transport.EPOLL.socketChannel()).handler(new ChannelInboundHandlerAdapter())
                    .connect(server.localAddress()).sync().channel();
            try {
                int unsent = 128 * 1024;
                FlowLimits.SocketQueue sockets = new BufferSettings(1 << 20, 1 << 20, 1 << 20, Duration.ZERO, unsent)
                        .flowLimits().sockets();
                sockets.memoryTight(socket, true);
                assertEquals(Transport.STREAM_UNSENT_WHILE_TIGHT, socket.config().getTcpNotSentLowAt());
                sockets.memoryTight(socket, false);
                assertEquals(unsent, socket.config().getTcpNotSentLowAt());

                Transport.shortOfMemory(socket, true);
                assertEquals(Transport.LINK_UNSENT_WHILE_SHORT, socket.config().getTcpNotSentLowAt());
                Transport.shortOfMemory(socket, false);
                assertEquals(Transport.LINK_UNSENT, socket.config().getTcpNotSentLowAt());
            } finally {
                socket.close().sync();
                server.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
