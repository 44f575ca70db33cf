package io.diglett.protocol.mux;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.testing.DuplexEmbeddedChannel;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The flow-controlled stream: one EmbeddedChannel is the link (frames stay objects, read back with
 * readOutbound), others are the local sockets.
 */
class StreamMuxTest {

    private static final int ID = 7;
    private static final int BIG_WINDOW = Protocol.MAX_PAYLOAD * 4;
    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

    private EmbeddedChannel link;
    private final List<EmbeddedChannel> locals = new ArrayList<>();

    @BeforeEach
    void setUp() {
        link = new EmbeddedChannel();
    }

    @AfterEach
    void tearDown() {
        for (EmbeddedChannel local : locals) {
            local.finishAndReleaseAll();
        }
        link.finishAndReleaseAll();
    }

    // ------------------------------------------------------------------ fixtures

    /** Counts the read requests a stream makes on its local socket. */
    static final class ReadCounter extends ChannelOutboundHandlerAdapter {
        int reads;

        @Override
        public void read(ChannelHandlerContext ctx) {
            reads++;
            ctx.read();
        }
    }

    /** A stream with its local socket and read counter. */
    private record Local(Stream stream, EmbeddedChannel channel, ReadCounter counter) {
        int reads() {
            return counter.reads;
        }
    }

    /** Creates stream {@code id}, attaches a fresh local socket and zeroes its read count; not yet opened. */
    private Local attach(StreamMux mux, int id, EmbeddedChannel channel, ReadCounter counter) {
        locals.add(channel);
        Stream stream = mux.create(id, "test");
        stream.attach(channel);
        counter.reads = 0; // EmbeddedChannel reads once on activation, before auto-read is switched off
        return new Local(stream, channel, counter);
    }

    private Local attach(StreamMux mux, int id) {
        ReadCounter counter = new ReadCounter();
        return attach(mux, id, new EmbeddedChannel(counter), counter);
    }

    private Local open(StreamMux mux, int sendWindow) {
        Local local = attach(mux, ID);
        local.stream().opened(sendWindow);
        return local;
    }

    /** A frame the mux wrote on the link, copied out so the frame itself can be released at once. */
    private record Sent(FrameKind kind, int id, byte[] payload) {
        int increment() {
            return Unpooled.wrappedBuffer(payload).readInt();
        }

        String text() {
            return new String(payload, StandardCharsets.UTF_8);
        }
    }

    /** Runs the link's pending flush and returns (and releases) every frame written on it. */
    private List<Sent> sent() {
        link.runPendingTasks();
        List<Sent> frames = new ArrayList<>();
        Object msg;
        while ((msg = link.readOutbound()) != null) {
            Frame frame = (Frame) msg;
            frames.add(new Sent(frame.kind(), frame.id(), ByteBufUtil.getBytes(frame.content())));
            frame.release();
        }
        return frames;
    }

    private static List<FrameKind> kinds(List<Sent> frames) {
        return frames.stream().map(Sent::kind).toList();
    }

    private static byte[] payloads(List<Sent> frames) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Sent frame : frames) {
            assertEquals(FrameKind.PAYLOAD, frame.kind());
            assertEquals(ID, frame.id());
            out.writeBytes(frame.payload());
        }
        return out.toByteArray();
    }

    /** Returns (and releases) everything the stream wrote to its local socket. */
    private static byte[] written(EmbeddedChannel local) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuf buf;
        while ((buf = local.readOutbound()) != null) {
            out.writeBytes(ByteBufUtil.getBytes(buf));
            buf.release();
        }
        return out.toByteArray();
    }

    private static byte[] bytes(int length, int seed) {
        byte[] data = new byte[length];
        for (int i = 0; i < length; i++) {
            data[i] = (byte) (i * 31 + seed);
        }
        return data;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] all = new byte[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    private static ByteBuf buffer(byte[] data) {
        return ALLOC.buffer(data.length).writeBytes(data);
    }

    /** The local socket reads {@code data}: one channelRead and one channelReadComplete. */
    private static void receiveLocally(Local local, byte[] data) {
        assertFalse(local.channel().writeInbound(buffer(data)), "the stream consumes what its socket reads");
    }

    private static void peerSends(StreamMux mux, int id, byte[] data) {
        assertTrue(mux.onFrame(Frame.payload(id, buffer(data))));
    }

    private static void peerWindow(StreamMux mux, int id, int increment) {
        assertTrue(mux.onFrame(Frame.window(ALLOC, id, increment)));
    }

    // ------------------------------------------------------------------ local socket -> link

    @Test
    void openedRequestsARead() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = attach(mux, ID);
        assertEquals(StreamState.OPENING, local.stream().state());
        assertFalse(local.channel().config().isAutoRead());
        assertEquals(0, local.reads(), "no read before the peer accepted the stream");

        local.stream().opened(BIG_WINDOW);

        assertEquals(StreamState.OPEN, local.stream().state());
        assertEquals(1, local.reads());
        assertEquals(BIG_WINDOW, local.stream().sendCredit());
    }

    @Test
    void dataWithinCreditBecomesPayloadFramesSplitAt65535() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, BIG_WINDOW);
        byte[] data = bytes(70_000, 1);

        receiveLocally(local, data);
        assertEquals(2, link.outboundMessages().size(),
                "70000 bytes reach FLUSH_AT_BYTES: flushed at once, not at the end of the turn");
        assertTrue(link.isWritable());
        assertEquals(2, local.reads(), "credit left and nothing held: the next read is requested");

        List<Sent> frames = sent();
        assertEquals(List.of(Protocol.MAX_PAYLOAD, 70_000 - Protocol.MAX_PAYLOAD),
                frames.stream().map(f -> f.payload().length).toList());
        assertArrayEquals(data, payloads(frames));
        assertEquals(BIG_WINDOW - 70_000, local.stream().sendCredit());
    }

    @Test
    void writesWaitForTheTurnsFlushUntilFlushAtBytesOfThemWait() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local first = attach(mux, 1);
        first.stream().opened(BIG_WINDOW);
        Local second = attach(mux, 3);
        second.stream().opened(BIG_WINDOW);
        int below = StreamMux.FLUSH_AT_BYTES - 1_000;

        receiveLocally(first, bytes(below, 1));
        assertNull(link.readOutbound(), "below FLUSH_AT_BYTES the link is flushed at the end of the turn");
        receiveLocally(second, bytes(1_000, 2));
        assertEquals(2, link.outboundMessages().size(), "both streams' frames went in one flush, before the turn ended");
        List<Sent> frames = sent();
        assertEquals(List.of(1, 3), frames.stream().map(Sent::id).toList());
        assertEquals(List.of(below, 1_000), frames.stream().map(f -> f.payload().length).toList());
    }

    @Test
    void dataBeyondCreditIsHeldUntilAWindowArrives() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, Protocol.MIN_WINDOW);
        byte[] first = bytes(60_000, 1);
        byte[] second = bytes(10_000, 2);

        receiveLocally(local, first);
        assertArrayEquals(first, payloads(sent()));
        assertEquals(2, local.reads());

        receiveLocally(local, second);
        byte[] out = payloads(sent());
        assertEquals(Protocol.MIN_WINDOW - 60_000, out.length, "only the remaining credit goes out");
        assertEquals(0, local.stream().sendCredit());
        assertEquals(10_000 - out.length, local.stream().bufferedBytes());
        assertEquals(2, local.reads(), "no read while data is held");

        peerWindow(mux, ID, 8_000);

        byte[] rest = payloads(sent());
        assertArrayEquals(concat(first, second), concat(concat(first, out), rest));
        assertEquals(8_000 - rest.length, local.stream().sendCredit());
        assertEquals(0, local.stream().bufferedBytes());
        assertEquals(3, local.reads(), "reading resumes once the held data is sent");
    }

    @Test
    void dataAndInputEndArrivingWhileOpeningWaitForOpened() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = attach(mux, ID);
        byte[] data = bytes(70_000, 1);

        // Epoll reads a client's half-close, and the data before it, even with auto-read off.
        receiveLocally(local, data);
        local.channel().pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        assertEquals(List.of(), sent(), "nothing goes out before the stream is open");
        assertEquals(70_000, local.stream().bufferedBytes());
        assertEquals(StreamState.OPENING, local.stream().state());

        local.stream().opened(Protocol.MIN_WINDOW);
        byte[] out = payloads(sent());
        assertEquals(Protocol.MIN_WINDOW, out.length);
        assertEquals(StreamState.OPEN, local.stream().state(), "no FIN while data is held");
        assertEquals(0, local.reads(), "the input has ended: nothing more to read");

        peerWindow(mux, ID, 10_000);
        List<Sent> frames = sent();
        assertEquals(List.of(FrameKind.PAYLOAD, FrameKind.FIN), kinds(frames));
        assertArrayEquals(data, concat(out, frames.get(0).payload()));
        assertEquals(StreamState.HALF_CLOSED_LOCAL, local.stream().state());
    }

    @Test
    void resetWhileOpeningReleasesEarlyData() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = attach(mux, ID);
        ByteBuf data = buffer(bytes(100, 1));
        assertFalse(local.channel().writeInbound(data));
        assertEquals(1, data.refCnt(), "held while OPENING");

        assertTrue(mux.onFrame(Frame.close(ALLOC, ID, "agent refused")));

        assertEquals(0, data.refCnt());
        assertEquals(StreamState.CLOSED, local.stream().state());
        assertFalse(local.channel().isOpen());
        assertEquals(List.of(), sent());
    }

    @Test
    void noReadWhileTheLinkIsNotWritable() {
        link.config().setWriteBufferWaterMark(new WriteBufferWaterMark(1, 2));
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        link.write(Unpooled.wrappedBuffer(new byte[16]));
        assertFalse(link.isWritable());

        Local local = open(mux, BIG_WINDOW);
        assertEquals(0, local.reads(), "opened, but the link cannot take more");
        mux.linkWritabilityChanged();
        assertEquals(0, local.reads(), "still not writable");

        link.flush();
        ByteBuf filler = link.readOutbound();
        filler.release();
        assertTrue(link.isWritable());
        mux.linkWritabilityChanged();
        assertEquals(1, local.reads());

        // The Payload frame, queued but not yet flushed, makes the link unwritable again.
        receiveLocally(local, bytes(100, 3));
        assertFalse(link.isWritable());
        assertEquals(1, local.reads());

        assertEquals(100, payloads(sent()).length);
        assertTrue(link.isWritable());
        assertEquals(1, local.reads(), "the stream waits to be told");
        mux.linkWritabilityChanged();
        assertEquals(2, local.reads());
    }

    // ------------------------------------------------------------------ link -> local socket

    @Test
    void incomingPayloadIsWrittenLocallyAndCreditReturnedInQuarters() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, BIG_WINDOW);
        byte[] first = bytes(40_000, 1);
        byte[] second = bytes(30_000, 2);

        peerSends(mux, ID, first);
        assertNull(local.channel().readOutbound(), "local writes are flushed at the end of the link's read");
        assertEquals(BIG_WINDOW - 40_000, local.stream().receiveCredit());
        mux.linkReadComplete();
        assertArrayEquals(first, written(local.channel()));
        assertEquals(List.of(), sent(), "40000 bytes are less than a quarter of the window");

        peerSends(mux, ID, second);
        assertEquals(List.of(), sent(), "no credit before the write has completed");
        assertEquals(BIG_WINDOW - 70_000, local.stream().receiveCredit());

        mux.linkReadComplete();
        assertArrayEquals(second, written(local.channel()));
        List<Sent> frames = sent();
        assertEquals(List.of(FrameKind.WINDOW), kinds(frames));
        assertEquals(ID, frames.get(0).id());
        assertEquals(70_000, frames.get(0).increment());
        assertEquals(BIG_WINDOW, local.stream().receiveCredit());
    }

    /**
     * The peer sends all the credit it has, this side writes it out at once, and returns credit: one credit round
     * trip of a stream limited by its window. Returns the credit the peer got back.
     */
    private int roundTrip(StreamMux mux, Local local, int credit, int seed) {
        for (int left = credit; left > 0; left -= Protocol.MAX_PAYLOAD) {
            peerSends(mux, ID, bytes(Math.min(left, Protocol.MAX_PAYLOAD), seed));
        }
        mux.linkReadComplete();
        assertEquals(credit, written(local.channel()).length);
        int returned = 0;
        for (Sent frame : sent()) {
            assertEquals(FrameKind.WINDOW, frame.kind());
            returned += frame.increment();
        }
        return returned;
    }

    @Test
    void aStreamLimitedByItsWindowGrowsItUpToTheMaximumAndGivesTheGrowthBackWhenItEnds() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, BIG_WINDOW);
        // as the programs set up stream sockets: write-buffer marks of a window
        local.channel().config().setWriteBufferWaterMark(Stream.socketWaterMark(BIG_WINDOW));
        long budget = mux.growthLeft();
        assertEquals((long) (mux.maxWindow() - BIG_WINDOW) * StreamMux.GROWN_WINDOWS_PER_LINK, budget);
        assertEquals(BIG_WINDOW * StreamMux.GROWTH_FACTOR, mux.maxWindow());

        int credit = BIG_WINDOW;
        List<Integer> windows = new ArrayList<>();
        for (int round = 0; round < 8; round++) {
            credit = roundTrip(mux, local, credit, round);
            windows.add(local.stream().window());
            // credit back: what was written plus the growth, but for less than a quarter of the window, which
            // waits for the next bytes (credit goes back in quarters of the current window)
            int held = local.stream().window() - credit;
            assertTrue(held >= 0 && held < local.stream().window() / 4, "held back " + held);
            assertEquals(credit, local.stream().receiveCredit(), "the peer's credit, as this side counts it");
        }
        // doubled each round the peer used up the whole window, until the maximum
        assertEquals(List.of(2 * BIG_WINDOW, 4 * BIG_WINDOW, 8 * BIG_WINDOW, 16 * BIG_WINDOW, 16 * BIG_WINDOW,
                16 * BIG_WINDOW, 16 * BIG_WINDOW, 16 * BIG_WINDOW), windows);
        assertEquals(budget - (mux.maxWindow() - BIG_WINDOW), mux.growthLeft());

        local.stream().reset("done", true);
        sent();
        assertEquals(budget, mux.growthLeft(), "the growth goes back to the link when the stream ends");
    }

    @Test
    void aGrownWindowGivesItsGrowthBackWhileSmallResponsesShareTheLinkAndGrowsAgainAlone() {
        AtomicLong now = new AtomicLong();
        StreamMux mux = new StreamMux(link, BIG_WINDOW, reason -> link.close(),
                new FlowLimits(BufferBudget.unlimited(), FlowLimits.DEFAULT_STALL_TIMEOUT, now::get));
        Local bulk = open(mux, BIG_WINDOW);
        bulk.channel().config().setWriteBufferWaterMark(Stream.socketWaterMark(mux.maxWindow()));
        Local small = attach(mux, ID + 2);
        small.stream().opened(BIG_WINDOW);
        int credit = BIG_WINDOW;
        while (bulk.stream().window() < mux.maxWindow()) {
            credit = roundTrip(mux, bulk, credit, 1);
            now.addAndGet(1_000_000);
        }
        long growthLeft = mux.growthLeft();

        // a small response every round: the download's window shrinks back to the initial one, and not below
        List<Integer> windows = new ArrayList<>();
        for (int round = 0; round < 12; round++) {
            peerSends(mux, ID + 2, bytes(1_000, round));
            credit = roundTrip(mux, bulk, credit, 2);
            written(small.channel());
            windows.add(bulk.stream().window());
            now.addAndGet(1_000_000);
        }
        for (int i = 1; i < windows.size(); i++) {
            assertTrue(windows.get(i) <= windows.get(i - 1), "never grows while shared: " + windows);
        }
        assertEquals(BIG_WINDOW, windows.get(windows.size() - 1), "shrinks to the initial window: " + windows);
        assertTrue(credit <= BIG_WINDOW, "the peer may send no more than the initial window ahead: " + credit);
        assertEquals(growthLeft + (mux.maxWindow() - BIG_WINDOW), mux.growthLeft(), "the growth went back");
        assertEquals(0, mux.budget().windowsShrunk(), "not a shrink for want of memory");

        // once no small response came for SHARED_NANOS, the download grows again
        now.addAndGet(StreamMux.SHARED_NANOS);
        for (int round = 0; round < 6; round++) {
            credit = roundTrip(mux, bulk, credit, 3);
            now.addAndGet(1_000_000);
        }
        assertEquals(mux.maxWindow(), bulk.stream().window(), "alone again, it grows back");
    }

    @Test
    void aGrownWindowTakesCreditBackInQuartersOfItself() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, BIG_WINDOW);
        local.channel().config().setWriteBufferWaterMark(Stream.socketWaterMark(BIG_WINDOW));
        int credit = BIG_WINDOW;
        while (local.stream().window() < mux.maxWindow()) {
            credit = roundTrip(mux, local, credit, 1);
        }
        // the peer spends the grown window one frame per link read, each written out at once
        List<Integer> increments = new ArrayList<>();
        for (int left = credit; left > 0; left -= Protocol.MAX_PAYLOAD) {
            peerSends(mux, ID, bytes(Math.min(left, Protocol.MAX_PAYLOAD), 2));
            mux.linkReadComplete();
            written(local.channel());
            sent().forEach(frame -> increments.add(frame.increment()));
        }
        // a Window frame per quarter of the 16x window, not per quarter of the initial one (which would be 64)
        assertEquals(4, increments.size(), increments.toString());
        for (int increment : increments) {
            assertTrue(increment >= mux.maxWindow() / 4, increments.toString());
        }
    }

    @Test
    void aStreamWhosePeerSendsLessThanItsWindowDoesNotGrow() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, BIG_WINDOW);
        local.channel().config().setWriteBufferWaterMark(Stream.socketWaterMark(BIG_WINDOW));
        for (int round = 0; round < 6; round++) {
            // a quarter window per round trip: the window is not what limits this stream
            assertEquals(BIG_WINDOW / 4, roundTrip(mux, local, BIG_WINDOW / 4, round));
        }
        assertEquals(BIG_WINDOW, local.stream().window());
        assertEquals(BIG_WINDOW, local.stream().receiveCredit());
    }

    @Test
    void theLinksGrowthBudgetBoundsWhatAllItsStreamsGrowTogether() {
        AtomicLong now = new AtomicLong();
        StreamMux mux = new StreamMux(link, BIG_WINDOW, reason -> link.close(),
                new FlowLimits(BufferBudget.unlimited(), FlowLimits.DEFAULT_STALL_TIMEOUT, now::get));
        int streams = StreamMux.GROWN_WINDOWS_PER_LINK + 2;
        List<Local> all = new ArrayList<>();
        List<Integer> credits = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
            Local local = attach(mux, ID + i);
            local.channel().config().setWriteBufferWaterMark(Stream.socketWaterMark(BIG_WINDOW));
            local.stream().opened(BIG_WINDOW);
            all.add(local);
            credits.add(BIG_WINDOW);
        }
        for (int round = 0; round < 6; round++) {
            for (int i = 0; i < streams; i++) {
                Local local = all.get(i);
                int id = ID + i;
                for (int left = credits.get(i); left > 0; left -= Protocol.MAX_PAYLOAD) {
                    peerSends(mux, id, bytes(Math.min(left, Protocol.MAX_PAYLOAD), round));
                }
                mux.linkReadComplete();
                written(local.channel());
                int returned = 0;
                for (Sent frame : sent()) {
                    returned += frame.increment();
                }
                credits.set(i, returned);
            }
            // each stream's first frame looked like a small response to the others: no growth that round
            now.addAndGet(StreamMux.SHARED_NANOS + 1);
        }
        long grown = 0;
        for (Local local : all) {
            grown += local.stream().window() - BIG_WINDOW;
            assertTrue(local.stream().window() <= mux.maxWindow());
        }
        assertEquals((long) (mux.maxWindow() - BIG_WINDOW) * StreamMux.GROWN_WINDOWS_PER_LINK, grown,
                "the streams took the whole budget and not a byte more");
        assertEquals(0, mux.growthLeft());
    }

    @Test
    void payloadBeyondTheReceiveCreditIsAProtocolError() {
        StreamMux mux = new StreamMux(link, Protocol.MIN_WINDOW);
        Local local = open(mux, Protocol.MIN_WINDOW);
        peerSends(mux, ID, bytes(Protocol.MAX_PAYLOAD, 1));
        assertEquals(0, local.stream().receiveCredit());

        ByteBuf extra = buffer(bytes(1, 2));
        ProtocolException e = assertThrows(ProtocolException.class, () -> mux.onFrame(Frame.payload(ID, extra)));
        assertTrue(e.getMessage().contains("overran its window"), e.getMessage());
        assertEquals(0, extra.refCnt(), "the refused payload is released");

        mux.linkReadComplete();
        assertEquals(Protocol.MAX_PAYLOAD, written(local.channel()).length);
        sent();
    }

    // ------------------------------------------------------------------ FIN and CLOSE

    @Test
    void finFollowsHeldDataAndBothFinsCloseTheStream() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, Protocol.MIN_WINDOW);
        byte[] data = bytes(70_000, 1);

        receiveLocally(local, data);
        byte[] out = payloads(sent());
        assertEquals(Protocol.MIN_WINDOW, out.length);

        local.channel().pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        assertEquals(List.of(), sent(), "no FIN while data is still held");
        assertEquals(StreamState.OPEN, local.stream().state());

        peerWindow(mux, ID, 10_000);
        List<Sent> frames = sent();
        assertEquals(List.of(FrameKind.PAYLOAD, FrameKind.FIN), kinds(frames));
        assertArrayEquals(data, concat(out, frames.get(0).payload()));
        assertEquals(ID, frames.get(1).id());
        assertEquals(StreamState.HALF_CLOSED_LOCAL, local.stream().state());
        int reads = local.reads();

        // Still receiving in HALF_CLOSED_LOCAL.
        peerSends(mux, ID, bytes(10, 2));
        mux.linkReadComplete();
        assertArrayEquals(bytes(10, 2), written(local.channel()));
        assertEquals(reads, local.reads(), "no read after the input ended");

        assertTrue(mux.onFrame(Frame.fin(ID)));
        assertEquals(StreamState.CLOSED, local.stream().state());
        assertEquals(0, mux.size());
        assertFalse(local.channel().isOpen());
        assertEquals(List.of(), sent(), "a clean end: no Close frame");
    }

    /** Records what a stream tells its observer. */
    static final class Recorder implements StreamObserver {
        final List<String> events = new ArrayList<>();
        long sent;
        long received;

        @Override
        public void opened() {
            events.add("opened");
        }

        @Override
        public void sent(int bytes) {
            sent += bytes;
        }

        @Override
        public void received(int bytes) {
            received += bytes;
        }

        @Override
        public void closed(boolean clean, String reason) {
            events.add(clean ? "finished" : "reset: " + reason);
        }
    }

    @Test
    void theObserverCountsBytesBothWaysAndHearsOfACleanEndOnce() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Recorder recorder = new Recorder();
        EmbeddedChannel channel = new EmbeddedChannel();
        locals.add(channel);
        Stream stream = mux.create(ID, "test", recorder);
        stream.attach(channel);
        stream.opened(BIG_WINDOW);
        receiveLocally(new Local(stream, channel, new ReadCounter()), bytes(100_000, 3));
        sent();
        peerSends(mux, ID, bytes(5_000, 4));
        mux.linkReadComplete();
        written(channel);
        assertEquals(100_000, recorder.sent);
        assertEquals(5_000, recorder.received);
        channel.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        assertTrue(mux.onFrame(Frame.fin(ID)));
        sent();
        assertFalse(channel.isOpen());
        assertEquals(List.of("opened", "finished"), recorder.events);

        Recorder second = new Recorder();
        EmbeddedChannel other = new EmbeddedChannel();
        locals.add(other);
        Stream reset = mux.create(ID + 1, "test", second);
        reset.attach(other);
        reset.reset("refused by the backend", false);
        reset.reset("again", true);
        assertEquals(List.of("reset: refused by the backend"), second.events, "told once, with the first reason");
    }

    @Test
    void finFromThePeerClosesANonDuplexLocalOnceWritesHaveDrained() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, BIG_WINDOW);
        peerSends(mux, ID, bytes(100, 1)); // written, not yet flushed

        assertTrue(mux.onFrame(Frame.fin(ID)));
        assertEquals(StreamState.HALF_CLOSED_REMOTE, local.stream().state());
        assertTrue(local.channel().isOpen(), "the pending write goes out first");

        ByteBuf late = buffer(bytes(5, 2));
        ProtocolException e = assertThrows(ProtocolException.class, () -> mux.onFrame(Frame.payload(ID, late)));
        assertTrue(e.getMessage().contains("HALF_CLOSED_REMOTE"), e.getMessage());
        assertEquals(0, late.refCnt());

        mux.linkReadComplete();
        assertArrayEquals(bytes(100, 1), written(local.channel()));
        assertFalse(local.channel().isOpen(), "an EmbeddedChannel cannot half-close, so it is closed");
        sent();
    }

    @Test
    void finFromThePeerShutsDownTheOutputOfADuplexLocal() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        ReadCounter counter = new ReadCounter();
        DuplexEmbeddedChannel channel = new DuplexEmbeddedChannel(counter);
        Local local = attach(mux, ID, channel, counter);
        local.stream().opened(BIG_WINDOW);

        assertTrue(mux.onFrame(Frame.fin(ID)));
        assertEquals(StreamState.HALF_CLOSED_REMOTE, local.stream().state());
        assertTrue(channel.outputShutdown);
        assertTrue(channel.isOpen());

        // This side still sends.
        receiveLocally(local, bytes(50, 1));
        assertArrayEquals(bytes(50, 1), payloads(sent()));

        channel.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        assertEquals(List.of(FrameKind.FIN), kinds(sent()));
        assertEquals(StreamState.CLOSED, local.stream().state());
        assertEquals(0, mux.size());
        assertFalse(channel.isOpen());
    }

    @Test
    void closeFrameResetsTheStream() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, Protocol.MIN_WINDOW);
        ByteBuf data = buffer(bytes(70_000, 1));
        assertFalse(local.channel().writeInbound(data));
        assertEquals(Protocol.MIN_WINDOW, payloads(sent()).length);
        assertEquals(1, data.refCnt(), "the unsent rest is held");

        assertTrue(mux.onFrame(Frame.close(ALLOC, ID, "client went away")));

        assertEquals(StreamState.CLOSED, local.stream().state());
        assertEquals(0, mux.size());
        assertFalse(local.channel().isOpen());
        assertEquals(0, data.refCnt(), "held data is released");
        assertEquals(0, local.stream().bufferedBytes());
        assertEquals(List.of(), sent(), "a reset from the peer is not echoed");
    }

    @Test
    void localSocketClosingSendsClose() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, BIG_WINDOW);

        local.channel().close();

        List<Sent> frames = sent();
        assertEquals(List.of(FrameKind.CLOSE), kinds(frames));
        assertEquals(ID, frames.get(0).id());
        assertEquals("connection closed", frames.get(0).text());
        assertEquals(StreamState.CLOSED, local.stream().state());
        assertEquals(0, mux.size());
    }

    // ------------------------------------------------------------------ dispatch and errors

    @Test
    void framesForUnknownStreamsAreDroppedAndReleased() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, BIG_WINDOW);
        Frame[] frames = {
            Frame.payload(99, buffer(bytes(10, 1))),
            Frame.window(ALLOC, 99, 1000),
            Frame.close(ALLOC, 99, "gone"),
        };
        for (Frame frame : frames) {
            String name = frame.toString();
            assertTrue(mux.onFrame(frame), name);
            assertEquals(0, frame.refCnt(), name + " released");
        }
        assertTrue(mux.onFrame(Frame.fin(99)), "a Fin (no payload buffer to release) is dropped too");
        assertEquals(StreamState.OPEN, local.stream().state(), "other streams are untouched");
        assertEquals(List.of(), sent());
        mux.linkReadComplete();
        assertNull(local.channel().readOutbound());
    }

    @Test
    void framesOfOtherKindsAreLeftToTheCaller() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Frame ping = Frame.ping(ALLOC, 1);
        assertFalse(mux.onFrame(ping));
        assertEquals(1, ping.refCnt());
        ping.release();
    }

    @Test
    void windowOverflowIsAProtocolError() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = open(mux, Protocol.MIN_WINDOW);

        peerWindow(mux, ID, Integer.MAX_VALUE - Protocol.MIN_WINDOW);
        assertEquals(Integer.MAX_VALUE, local.stream().sendCredit(), "2^31-1 is still allowed");

        ProtocolException e = assertThrows(ProtocolException.class, () -> peerWindow(mux, ID, 1));
        assertEquals("bad window increment 1 on stream 7", e.getMessage());
        assertThrows(ProtocolException.class, () -> peerWindow(mux, ID, 0));
        assertEquals(Integer.MAX_VALUE, local.stream().sendCredit());
    }

    @Test
    void streamLifecycleErrors() {
        StreamMux mux = new StreamMux(link, BIG_WINDOW);
        Local local = attach(mux, ID);
        assertSame(local.stream(), mux.get(ID));

        assertThrows(ProtocolException.class, () -> mux.create(ID, "again"));
        ProtocolException early = assertThrows(ProtocolException.class, () -> peerWindow(mux, ID, 100));
        assertTrue(early.getMessage().contains("before it opened"), early.getMessage());
        assertThrows(ProtocolException.class, () -> local.stream().opened(Protocol.MIN_WINDOW - 1));

        local.stream().opened(Protocol.MIN_WINDOW);
        assertThrows(ProtocolException.class, () -> local.stream().opened(Protocol.MIN_WINDOW));
        assertThrows(IllegalArgumentException.class, () -> new StreamMux(link, Protocol.MIN_WINDOW - 1));
    }
}
