package io.diglett.protocol.mux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.Signals;
import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.embedded.EmbeddedChannel;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The process-wide bound on what streams hold for sockets that do not take their bytes: shedding the stalled
 * stream over the budget (never one whose socket reads), smaller windows under pressure, the stall timeout,
 * allocation failures, and the link's queue staying bounded when many streams have data at once.
 */
class BufferBudgetTest {

    private static final int WINDOW = Protocol.DEFAULT_WINDOW;
    private static final int CHUNK = Protocol.MAX_PAYLOAD;

    private final EmbeddedChannel link = new EmbeddedChannel();
    private final List<EmbeddedChannel> locals = new ArrayList<>();
    private final AtomicLong now = new AtomicLong(1_000);

    @AfterEach
    void tearDown() {
        locals.forEach(EmbeddedChannel::finishAndReleaseAll);
        drainLink().forEach(Frame::release);
        link.finishAndReleaseAll();
    }

    /** A socket whose client never reads: writes are queued and never flushed, so it stays unwritable. */
    private static final class NeverFlushes extends ChannelOutboundHandlerAdapter {
        @Override
        public void flush(ChannelHandlerContext ctx) {
            // the kernel buffer is full: nothing leaves
        }
    }

    private Stream stream(StreamMux mux, int id, boolean reads, Object client) {
        EmbeddedChannel local = reads ? new EmbeddedChannel() : new EmbeddedChannel(new NeverFlushes());
        local.config().setWriteBufferWaterMark(Stream.socketWaterMark(WINDOW));
        locals.add(local);
        Stream stream = mux.create(id, "test-" + id, StreamObserver.NONE, client);
        stream.attach(local);
        stream.opened(WINDOW);
        return stream;
    }

    private StreamMux mux(BufferBudget budget, Duration stallTimeout) {
        return new StreamMux(link, WINDOW, reason -> link.close(), new FlowLimits(budget, stallTimeout, now::get));
    }

    /** The peer's Payload arrives in a read of the link of its own, flushed to the socket at the read's end. */
    private static void peerSends(StreamMux mux, int id, int bytes) {
        assertTrue(mux.onFrame(Frame.payload(id, Unpooled.wrappedBuffer(new byte[bytes]))));
        mux.linkReadComplete();
    }

    /** Frames written on the link since the last call, released. */
    private List<Frame> drainLink() {
        link.runPendingTasks();
        List<Frame> frames = new ArrayList<>();
        for (Object msg; (msg = link.readOutbound()) != null; ) {
            frames.add((Frame) msg);
        }
        return frames;
    }

    private List<String> closeReasons() {
        List<String> reasons = new ArrayList<>();
        for (Frame frame : drainLink()) {
            if (frame.kind() == FrameKind.CLOSE) {
                reasons.add(Signals.Reason.decode(frame).text());
            }
            frame.release();
        }
        return reasons;
    }

    @Test
    void overTheBudgetTheStreamWhoseSocketDoesNotReadIsShedAndTheOthersKeepGoing() {
        BufferBudget budget = new BufferBudget(2L * CHUNK - 1, Long.MAX_VALUE, Long.MAX_VALUE);
        StreamMux mux = mux(budget, Duration.ZERO);
        Stream first = stream(mux, 1, false, null);
        Stream second = stream(mux, 3, false, null);
        Stream reader = stream(mux, 5, true, null);
        assertEquals(Protocol.MIN_WINDOW, first.window(), "a budget this small grants the smallest windows");

        peerSends(mux, 1, CHUNK);
        assertEquals(CHUNK, budget.total().used(), "a stalled stream holds its whole window");
        peerSends(mux, 3, CHUNK / 2);
        assertEquals(StreamState.OPEN, second.state(), "within the budget");
        now.addAndGet(Stream.PROGRESS_GRACE_NANOS); // and its socket has taken nothing for a second
        peerSends(mux, 3, CHUNK - CHUNK / 2);

        assertEquals(StreamState.CLOSED, second.state(), "over the budget, the stream that needed more goes");
        assertEquals(1, budget.shed(BufferBudget.Shed.BUDGET));
        assertEquals(CHUNK, budget.total().used(), "what it held went back");
        assertTrue(closeReasons().get(0).contains("buffer budget exhausted"));
        assertEquals(StreamState.OPEN, first.state(), "what was already held stays");

        // still over the pressure mark, but this socket takes its bytes: never shed for the budget
        peerSends(mux, 5, CHUNK);
        mux.linkReadComplete();
        assertEquals(StreamState.OPEN, reader.state());
        assertEquals(CHUNK, budget.total().used(), "bytes the socket took are not held");

        first.reset("test over", true);
        reader.reset("test over", true);
        assertEquals(0, budget.total().used(), "every byte of the budget comes back when the streams end");
        assertEquals(0, mux.linkShare().used());
        assertEquals(0, budget.total().committed(), "and every byte of window");
    }

    @Test
    void newStreamsGetFullWindowsOnlyWhileTheWindowsAlreadyGrantedLeaveRoomInTheBudget() throws Exception {
        // room for the windows: half of each limit, so three full windows in all and one per address
        BufferBudget budget = new BufferBudget(6L * WINDOW, Long.MAX_VALUE, 2L * WINDOW);
        StreamMux mux = mux(budget, Duration.ZERO);
        InetAddress one = InetAddress.getByName("192.0.2.1");
        InetAddress two = InetAddress.getByName("192.0.2.2");
        InetAddress three = InetAddress.getByName("192.0.2.3");
        Stream a = stream(mux, 1, true, one);
        Stream b = stream(mux, 3, true, one);
        Stream c = stream(mux, 5, true, two);
        Stream d = stream(mux, 7, true, three);
        assertEquals(WINDOW, a.window());
        assertEquals(Protocol.MIN_WINDOW, b.window(), "its address's share has room for one full window");
        assertEquals(WINDOW, c.window(), "another address has a share of its own");
        assertEquals(Protocol.MIN_WINDOW, d.window(), "the total's room is spent");
        assertEquals(2L * WINDOW + 2L * Protocol.MIN_WINDOW, budget.total().committed());
        assertEquals(Protocol.MIN_WINDOW, b.receiveCredit(), "what its peer may send");

        a.reset("test over", true);
        Stream e = stream(mux, 9, true, one);
        assertEquals(Protocol.MIN_WINDOW, e.window(), "b's window still counts against its address");
        b.reset("test over", true);
        e.reset("test over", true);
        Stream f = stream(mux, 11, true, one);
        assertEquals(WINDOW, f.window(), "windows go back with their streams");
        for (Stream s : List.of(c, d, f)) {
            s.reset("test over", true);
        }
        assertEquals(0, budget.total().committed());
    }

    @Test
    void eachClientAddressHasItsOwnShare() throws Exception {
        int part = 20_000;
        BufferBudget budget = new BufferBudget(Long.MAX_VALUE, Long.MAX_VALUE, 2L * part);
        StreamMux mux = mux(budget, Duration.ZERO);
        InetAddress greedy = InetAddress.getByName("192.0.2.1");
        InetAddress other = InetAddress.getByName("192.0.2.2");
        Stream a = stream(mux, 1, false, greedy);
        Stream b = stream(mux, 3, false, other);
        peerSends(mux, 1, part);
        peerSends(mux, 1, part);
        peerSends(mux, 3, part);
        peerSends(mux, 3, part);
        assertEquals(2, budget.clients());
        now.addAndGet(Stream.PROGRESS_GRACE_NANOS);
        peerSends(mux, 1, part);
        assertEquals(StreamState.CLOSED, a.state(), "its address's share is spent");
        assertEquals(StreamState.OPEN, b.state(), "another address is not charged for it");
        assertEquals(1, budget.clients(), "a client's entry goes with its last stream");
        b.reset("test over", true);
        assertEquals(0, budget.clients());
    }

    @Test
    void underPressureCreditComesBackShortAndTheWindowShrinksInsteadOfGrowing() {
        // room for one full window; five stalled streams of the smallest window then hold over half of it
        BufferBudget budget = new BufferBudget(2L * WINDOW, Long.MAX_VALUE, Long.MAX_VALUE);
        StreamMux mux = mux(budget, Duration.ZERO);
        Stream reader = stream(mux, 1, true, null);
        assertEquals(WINDOW, reader.window());
        for (int id = 3; id <= 11; id += 2) {
            stream(mux, id, false, null);
            peerSends(mux, id, Protocol.MIN_WINDOW);
        }
        assertTrue(budget.total().used() >= BufferBudget.PRESSURE * budget.total().limit());
        drainLink().forEach(Frame::release);

        peerSends(mux, 1, CHUNK);
        peerSends(mux, 1, 1); // a quarter of the window consumed: credit goes back
        List<Frame> frames = drainLink();
        try {
            assertEquals(1, frames.size());
            assertEquals(FrameKind.WINDOW, frames.get(0).kind());
            int increment = Signals.WindowUpdate.increment(frames.get(0));
            assertEquals(WINDOW / 8, increment, "half of the consumed bytes are withheld");
        } finally {
            frames.forEach(Frame::release);
        }
        assertEquals(WINDOW - WINDOW / 8, reader.window());
        assertEquals(1, budget.windowsShrunk());
        assertEquals(reader.window(), reader.receiveCredit(), "nothing in flight: the credit is the shrunk window");
        assertEquals(WINDOW - WINDOW / 8 + 5L * Protocol.MIN_WINDOW, budget.total().committed(),
                "the shrunk window is what is granted");
    }

    @Test
    void whileMemoryIsTightTheSocketsKernelQueuesAreHeldAndAfterwardsReleasedOncePerChange() {
        BufferBudget budget = BufferBudget.unlimited();
        List<String> calls = new ArrayList<>();
        StreamMux mux = new StreamMux(link, WINDOW, reason -> link.close(),
                new FlowLimits(budget, Duration.ZERO, now::get).withSockets(
                        (socket, tight) -> calls.add(locals.indexOf(socket) + ":" + tight)));
        stream(mux, 1, true, null);
        stream(mux, 3, false, null);
        mux.sweepStalled();
        assertEquals(List.of(), calls, "memory is not tight: the sockets keep what they were opened with");

        budget.systemTight(true);
        mux.sweepStalled();
        mux.sweepStalled();
        assertEquals(List.of("0:true", "1:true"), calls, "held once, not at every sweep");

        budget.systemTight(false);
        mux.sweepStalled();
        assertEquals(List.of("0:true", "1:true", "0:false", "1:false"), calls);

        budget.systemPressure(true);
        mux.sweepStalled();
        assertEquals(List.of("0:true", "1:true", "0:false", "1:false", "0:true", "1:true"), calls,
                "memory short is tight too");
    }

    @Test
    void aSocketThatTakesNothingForTheStallTimeoutIsResetAndAnIdleOneIsNot() {
        BufferBudget budget = BufferBudget.unlimited();
        StreamMux mux = mux(budget, Duration.ofSeconds(60));
        Stream stalled = stream(mux, 1, false, null);
        Stream idle = stream(mux, 3, true, null);
        peerSends(mux, 1, 1000);

        now.addAndGet(Duration.ofSeconds(59).toNanos());
        mux.sweepStalled();
        assertEquals(StreamState.OPEN, stalled.state());

        now.addAndGet(Duration.ofSeconds(1).toNanos());
        mux.sweepStalled();
        assertEquals(StreamState.CLOSED, stalled.state());
        assertEquals(StreamState.OPEN, idle.state(), "nothing waits for an idle socket: not stalled");
        assertEquals(1, budget.shed(BufferBudget.Shed.STALL));
        assertTrue(closeReasons().get(0).contains("accepted no byte for 60 s"));
        assertEquals(0, budget.total().used());
    }

    @Test
    void whileMemoryIsShortAStalledSocketOrAPeerThatReturnsNoCreditIsShedAfterTwoSeconds() {
        BufferBudget budget = BufferBudget.unlimited();
        StreamMux mux = mux(budget, Duration.ofSeconds(60));
        Stream stalled = stream(mux, 1, false, null);
        Stream starved = stream(mux, 3, true, null);
        Stream idle = stream(mux, 5, true, null);
        peerSends(mux, 1, 1000);
        // the local socket reads a whole window: all credit spent, the peer returns none
        locals.get(1).writeInbound(Unpooled.wrappedBuffer(new byte[WINDOW]));
        drainLink().forEach(Frame::release);
        assertEquals(0, starved.sendCredit());

        now.addAndGet(BufferBudget.SHORT_STALL.toNanos());
        mux.sweepStalled();
        assertEquals(StreamState.OPEN, stalled.state(), "memory is not short: the stall timeout applies");
        assertEquals(StreamState.OPEN, starved.state());

        budget.systemPressure(true);
        mux.sweepStalled();
        assertEquals(StreamState.CLOSED, stalled.state());
        assertEquals(StreamState.CLOSED, starved.state());
        assertEquals(StreamState.OPEN, idle.state(), "nothing waits on an idle stream");
        assertEquals(2, budget.shed(BufferBudget.Shed.PRESSURE));
        List<String> reasons = closeReasons();
        assertTrue(reasons.contains("memory is short and the socket took no byte for 500 ms while data waited for it"),
                reasons.toString());
        assertTrue(reasons.contains("memory is short and the peer took no byte for 500 ms while data waited for it"),
                reasons.toString());
    }

    @Test
    void whileMemoryIsShortAStreamWhoseReadWaitsForAFullLinkIsShedAndItsCloseIsNoControlFrame() {
        link.config().setWriteBufferWaterMark(new WriteBufferWaterMark(1, 2));
        BufferBudget budget = BufferBudget.unlimited();
        StreamMux mux = mux(budget, Duration.ZERO);
        Stream waiting = stream(mux, 1, true, null);
        link.write(Unpooled.wrappedBuffer(new byte[16]));
        locals.get(0).writeInbound(Unpooled.wrappedBuffer(new byte[100]));
        assertEquals(100, waiting.bufferedBytes(), "the read waits for the link");
        now.addAndGet(BufferBudget.SHORT_STALL.toNanos() - 1);
        mux.sweepStalled();
        assertEquals(StreamState.OPEN, waiting.state(), "memory is not short");
        budget.systemPressure(true);
        mux.sweepStalled();
        assertEquals(StreamState.OPEN, waiting.state(), "streams take turns on a busy link: it may wait up to SHORT_STALL");

        now.addAndGet(1);
        mux.sweepStalled();
        assertEquals(StreamState.CLOSED, waiting.state());
        assertEquals(0, mux.queuedControlFrames(), "a Close this side starts is bounded by its streams");
        link.flush();
        ByteBuf filler = link.readOutbound();
        filler.release();
        assertTrue(closeReasons().contains("memory is short and the link took no byte for 500 ms while data waited for it"));
    }

    @Test
    void overTheBudgetASlowButReadingSocketKeepsItsStream() {
        int part = 20_000;
        BufferBudget budget = new BufferBudget(2L * part, Long.MAX_VALUE, Long.MAX_VALUE);
        StreamMux mux = mux(budget, Duration.ZERO);
        Stream slow = stream(mux, 1, false, null);
        peerSends(mux, 1, part);
        peerSends(mux, 1, part);
        peerSends(mux, 1, part); // over the budget, behind, but it took a byte less than a second ago
        assertEquals(StreamState.OPEN, slow.state());
        now.addAndGet(Stream.PROGRESS_GRACE_NANOS);
        peerSends(mux, 1, 10);
        assertEquals(StreamState.CLOSED, slow.state(), "a second without progress: shed");
    }

    @Test
    void onABusyLinkAStreamWithLittleToSendGoesBeforeBulkOnesThatWaitedLonger() {
        link.config().setWriteBufferWaterMark(new WriteBufferWaterMark(1, 2));
        StreamMux mux = mux(BufferBudget.unlimited(), Duration.ZERO);
        Stream bulk1 = stream(mux, 1, true, null);
        Stream bulk2 = stream(mux, 3, true, null);
        Stream small = stream(mux, 5, true, null);
        link.write(Unpooled.wrappedBuffer(new byte[16]));
        locals.get(0).writeInbound(Unpooled.wrappedBuffer(new byte[60_000]));
        locals.get(1).writeInbound(Unpooled.wrappedBuffer(new byte[60_000]));
        locals.get(2).writeInbound(Unpooled.wrappedBuffer(new byte[300])); // a small response, last in line
        link.flush();
        ByteBuf filler = link.readOutbound();
        filler.release();

        mux.linkWritabilityChanged();
        List<Frame> first = drainLink();
        assertEquals(5, first.get(0).id(), "the small response first");
        first.forEach(Frame::release);
        mux.linkWritabilityChanged();
        List<Frame> second = drainLink();
        assertEquals(1, second.get(0).id(), "then the bulk ones, in the order they stopped");
        second.forEach(Frame::release);
        mux.linkWritabilityChanged();
        drainLink().forEach(Frame::release);
        assertEquals(0, bulk1.bufferedBytes() + bulk2.bufferedBytes() + small.bufferedBytes());
    }

    @Test
    void aThousandShedStreamsInOneSecondMakeOneLogLine() {
        BufferBudget budget = new BufferBudget(1, 1, 1, now::get);
        int logged = 0;
        for (int i = 0; i < 1000; i++) {
            if (budget.countShed(BufferBudget.Shed.BUDGET, "stream=" + i, "test")) {
                logged++;
            }
        }
        assertEquals(1, logged);
        now.addAndGet(Duration.ofSeconds(1).toNanos());
        assertTrue(budget.countShed(BufferBudget.Shed.BUDGET, "stream=1000", "test"), "a second later, one more");
        assertEquals(1001, budget.shed(BufferBudget.Shed.BUDGET));
    }

    @Test
    void aSocketThatKeepsTakingBytesIsNotStalledHoweverLongItTakes() {
        StreamMux mux = mux(BufferBudget.unlimited(), Duration.ofSeconds(60));
        Stream slow = stream(mux, 1, true, null);
        for (int i = 0; i < 10; i++) {
            peerSends(mux, 1, 1000);
            now.addAndGet(Duration.ofSeconds(30).toNanos());
            mux.linkReadComplete(); // the socket takes it, 30 s later
            mux.sweepStalled();
        }
        assertEquals(StreamState.OPEN, slow.state());
    }

    /** Direct memory is short: buffers of 1 KiB and more cannot be had (small control frames still can). */
    private static final class ShortOfMemory extends AbstractByteBufAllocator {
        @Override
        protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
            return newDirectBuffer(initialCapacity, maxCapacity);
        }

        @Override
        protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
            if (initialCapacity >= 1024) {
                throw new OutOfMemoryError("Cannot reserve " + initialCapacity + " bytes of direct buffer memory");
            }
            return Unpooled.buffer(initialCapacity, maxCapacity);
        }

        @Override
        public boolean isDirectBufferPooled() {
            return false;
        }
    }

    @Test
    void anAllocationFailureShedsTheStreamNotTheLink() {
        link.config().setAllocator(new ShortOfMemory());
        BufferBudget budget = BufferBudget.unlimited();
        StreamMux mux = mux(budget, Duration.ZERO);
        Stream stalled = stream(mux, 1, false, null);
        locals.get(0).config().setWriteBufferWaterMark(new WriteBufferWaterMark(1, 2));
        Stream other = stream(mux, 3, true, null);
        peerSends(mux, 1, CHUNK);
        peerSends(mux, 1, 10); // the socket is backed up: this one needs a buffer of its own

        assertEquals(StreamState.CLOSED, stalled.state());
        assertEquals(StreamState.OPEN, other.state());
        assertTrue(link.isActive(), "the link stays");
        assertEquals(1, budget.shed(BufferBudget.Shed.ALLOCATION));
        link.config().setAllocator(ByteBufAllocator.DEFAULT);
    }

    @Test
    void streamsWithDataForABackedUpLinkWaitAndGoOnInTurn() {
        link.config().setWriteBufferWaterMark(new WriteBufferWaterMark(1, 2));
        StreamMux mux = mux(BufferBudget.unlimited(), Duration.ZERO);
        Stream a = stream(mux, 1, true, null);
        Stream b = stream(mux, 3, true, null);
        link.write(Unpooled.wrappedBuffer(new byte[16]));
        assertFalse(link.isWritable());

        // reads that were already asked for arrive while the link is full: they wait in their streams
        locals.get(0).writeInbound(Unpooled.wrappedBuffer(new byte[100]));
        locals.get(1).writeInbound(Unpooled.wrappedBuffer(new byte[200]));
        link.flush();
        ByteBuf filler = link.readOutbound();
        filler.release();
        assertTrue(drainLink().isEmpty(), "nothing queued on the link beyond its high mark");
        assertEquals(300, a.bufferedBytes() + b.bufferedBytes());

        mux.linkWritabilityChanged();
        List<Frame> first = drainLink();
        assertEquals(1, first.size(), "the first stream's frame takes the link over its mark again");
        assertEquals(1, first.get(0).id());
        first.forEach(Frame::release);
        mux.linkWritabilityChanged();
        List<Frame> second = drainLink();
        assertEquals(3, second.get(0).id(), "then the next in line");
        second.forEach(Frame::release);
        assertEquals(0, a.bufferedBytes() + b.bufferedBytes());
    }
}
