package io.diglett.server.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The holder's in-process pipe between a node link's stream and an agent link's: what a stream needs of a socket. */
class PipeChannelTest {

    private static MultiThreadIoEventLoopGroup group;
    private static EventLoop loop;
    private static final InetSocketAddress CLIENT = new InetSocketAddress("203.0.113.9", 5000);
    private static final InetSocketAddress SERVER = new InetSocketAddress("127.0.0.2", 80);

    @BeforeAll
    static void start() {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        loop = group.next();
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** What reached one end: text of the bytes read, and the events, in order. */
    private static final class Seen extends ChannelInboundHandlerAdapter {
        final List<String> events = new CopyOnWriteArrayList<>();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf bytes = (ByteBuf) msg;
            try {
                events.add("read " + bytes.toString(StandardCharsets.US_ASCII));
            } finally {
                bytes.release();
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            events.add("complete");
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt == ChannelInputShutdownEvent.INSTANCE) {
                events.add("input shutdown");
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            events.add(cause.getClass().getSimpleName() + " " + cause.getMessage());
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            events.add("inactive");
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            events.add(ctx.channel().isWritable() ? "writable" : "not writable");
        }
    }

    private static <T> T on(Callable<T> action) throws Exception {
        return loop.submit(action).get(5, TimeUnit.SECONDS);
    }

    /** Runs an empty task on the loop: every task queued before it has run. */
    private static void settle() throws Exception {
        on(() -> null);
        on(() -> null);
    }

    private static PipeChannel[] pair(Seen a, Seen b) throws Exception {
        return on(() -> {
            PipeChannel[] pipe = PipeChannel.pair(loop, SERVER, CLIENT);
            // where a stream would be: an abort's reason is told to the stream only
            pipe[0].pipeline().addLast(io.diglett.protocol.mux.HandlerNames.STREAM, a);
            pipe[1].pipeline().addLast(io.diglett.protocol.mux.HandlerNames.STREAM, b);
            return pipe;
        });
    }

    private static ByteBuf ascii(String text) {
        return Unpooled.copiedBuffer(text, StandardCharsets.US_ASCII);
    }

    @Test
    void bytesWaitForTheOtherEndToReadAndTheWriteCompletesWhenTheyAreDelivered() throws Exception {
        Seen a = new Seen();
        Seen b = new Seen();
        PipeChannel[] pipe = pair(a, b);
        assertEquals(CLIENT, pipe[0].remoteAddress());
        assertEquals(CLIENT, pipe[1].localAddress());
        ChannelFuture write = on(() -> pipe[0].writeAndFlush(ascii("hello")));
        settle();
        assertFalse(write.isDone(), "nothing delivered while the other end reads nothing");
        assertEquals(List.of(), b.events);
        on(() -> pipe[1].read());
        settle();
        assertTrue(write.isSuccess());
        assertEquals(List.of("read hello", "complete"), b.events);
        on(() -> pipe[0].close());
    }

    @Test
    void whatWaitsIsBoundedByTheWritersMarksAndOneReadTakesAtMostASocketReadsWorth() throws Exception {
        Seen a = new Seen();
        Seen b = new Seen();
        PipeChannel[] pipe = pair(a, b);
        on(() -> pipe[0].config().setWriteBufferWaterMark(new WriteBufferWaterMark(96 * 1024, 128 * 1024)));
        on(() -> {
            for (int i = 0; i < 3; i++) {
                pipe[0].write(Unpooled.wrappedBuffer(new byte[64 * 1024]));
            }
            return pipe[0].flush();
        });
        assertFalse(on(pipe[0]::isWritable), "192 KiB waiting, above the high mark of 128 KiB");
        assertEquals(List.of("not writable"), a.events);
        on(() -> pipe[1].read());
        settle();
        assertEquals(2, b.events.size(), "one read: " + b.events);
        assertEquals(2, on(() -> pipe[0].unsafe().outboundBuffer().size()), "two of the three writes wait");
        on(() -> pipe[1].read());
        settle();
        assertTrue(on(pipe[0]::isWritable), "64 KiB left, under the low mark of 96 KiB");
        assertEquals(List.of("not writable", "writable"), a.events);
        on(() -> pipe[0].close());
    }

    @Test
    void aHalfCloseReachesTheOtherEndAfterTheBytesBeforeItAndTheOtherWayStaysOpen() throws Exception {
        Seen a = new Seen();
        Seen b = new Seen();
        PipeChannel[] pipe = pair(a, b);
        on(() -> {
            pipe[0].writeAndFlush(ascii("last"));
            return pipe[0].shutdownOutput();
        });
        settle();
        assertEquals(List.of(), b.events, "the end of input waits behind the bytes");
        on(() -> pipe[1].read());
        settle();
        assertEquals(List.of("read last", "complete", "input shutdown"), b.events);
        assertTrue(pipe[1].isInputShutdown());
        ChannelFuture back = on(() -> pipe[1].writeAndFlush(ascii("answer")));
        on(() -> pipe[0].read());
        settle();
        assertTrue(back.isSuccess());
        assertEquals(List.of("read answer", "complete"), a.events);
        ChannelFuture late = on(() -> pipe[0].writeAndFlush(ascii("too late")));
        settle();
        assertInstanceOf(ClosedChannelException.class, late.cause(), "no output after its end");
        on(() -> pipe[0].close());
    }

    @Test
    void aCloseEndsTheOtherEndsInputAndItsWritesFail() throws Exception {
        Seen a = new Seen();
        Seen b = new Seen();
        PipeChannel[] pipe = pair(a, b);
        on(() -> pipe[0].close());
        settle();
        assertEquals(List.of("input shutdown"), b.events);
        assertTrue(pipe[1].isOpen(), "the other end is closed by its owner, as a socket is");
        ChannelFuture write = on(() -> pipe[1].writeAndFlush(ascii("nobody")));
        settle();
        assertInstanceOf(ClosedChannelException.class, write.cause());
        on(() -> pipe[1].close());
    }

    @Test
    void anAbortGivesTheOtherEndItsReasonAndDropsWhatWaited() throws Exception {
        Seen a = new Seen();
        Seen b = new Seen();
        PipeChannel[] pipe = pair(a, b);
        ChannelFuture write = on(() -> pipe[1].writeAndFlush(ascii("never read")));
        on(() -> {
            pipe[0].abort("backend 127.0.0.1:9 unreachable");
            return null;
        });
        settle();
        assertEquals(List.of("IOException backend 127.0.0.1:9 unreachable", "inactive"), b.events);
        assertFalse(pipe[0].isOpen() || pipe[1].isOpen());
        assertFalse(write.isSuccess(), "what waited is dropped (and released: the leak detector would say)");
    }
}
