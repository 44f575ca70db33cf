package io.diglett.common.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.util.ReferenceCountUtil;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A socket whose peer has half-closed and that reads no more (auto-read off, no read pending) must still be
 * able to write more than its kernel buffer takes: the streams write a whole response after the client's FIN.
 * With Netty 4.2.18's epoll alone, the socket's interest set becomes empty once the half-close is handled,
 * Netty removes it from epoll but keeps it marked as added, and the next wait for writability fails with
 * {@code epoll_ctl(..) failed with error(-2): No such file or directory}: the write fails and the output is
 * shut down. The case is held for both native transports where they load: io_uring, the default where it
 * loads, too. (NIO does not apply: with no read pending it never sees the half-close.)
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class HalfClosedEpollTest {

    private static final int RESPONSE = 8 * 1024 * 1024;

    @ParameterizedTest
    @EnumSource(names = {"IO_URING", "EPOLL"})
    void aHalfClosedSocketThatReadsNoMoreStillWritesPastItsKernelBuffer(Transport transport) throws Exception {
        assumeTrue(transport.isAvailable(), transport + " does not load here");
        EventLoopGroup group = transport.newGroup(1, "half-closed-test");
        CompletableFuture<Channel> inputEnded = new CompletableFuture<>();
        try {
            Channel server = new ServerBootstrap().group(group).channel(transport.serverChannel())
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .childHandler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelActive(ChannelHandlerContext ctx) {
                            ctx.read(); // one read, then none: like a stream waiting for credit
                        }

                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ReferenceCountUtil.release(msg);
                        }

                        @Override
                        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                            if (evt instanceof ChannelInputShutdownReadComplete) {
                                // after the half-close has been handled in full
                                ctx.executor().execute(() -> inputEnded.complete(ctx.channel()));
                            }
                            ReferenceCountUtil.release(evt);
                        }
                    })
                    .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            try (Socket client = new Socket()) {
                client.connect(server.localAddress());
                client.getOutputStream().write("request".getBytes());
                client.shutdownOutput();
                Channel accepted = inputEnded.get(10, TimeUnit.SECONDS);

                ChannelFuture written = accepted.writeAndFlush(Unpooled.wrappedBuffer(new byte[RESPONSE]));
                long read = 0;
                InputStream in = client.getInputStream();
                byte[] buf = new byte[65536];
                while (read < RESPONSE) {
                    int n = in.read(buf);
                    if (n < 0) {
                        break;
                    }
                    read += n;
                }
                assertTrue(written.await(10, TimeUnit.SECONDS), "write completes");
                assertTrue(written.isSuccess(), () -> "write failed: " + written.cause());
                assertEquals(RESPONSE, read);
            } finally {
                server.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
