package io.diglett.bench;

import io.diglett.protocol.Frame;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.mux.Stream;
import io.diglett.protocol.mux.StreamMux;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The receive side of the stream engine: a Payload frame from the link is written to the stream's socket,
 * the socket drains, credit goes back in Window frames. Frames per second, payload bytes per
 * second ({@code bytes}); {@code -prof gc} for allocation.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class StreamMuxBenchmark {

    @Param({"1024", "16384", "65535"})
    int size;

    private EmbeddedChannel link;
    private EmbeddedChannel socket;
    private StreamMux mux;
    private ByteBuf payload;

    @Setup(Level.Trial)
    public void setUp() {
        link = new EmbeddedChannel();
        socket = new EmbeddedChannel();
        mux = new StreamMux(link, Protocol.DEFAULT_WINDOW);
        Stream stream = mux.create(1, "bench");
        stream.attach(socket);
        stream.opened(Protocol.DEFAULT_WINDOW);
        payload = ByteBufAllocator.DEFAULT.directBuffer(size).writeZero(size);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        payload.release();
        socket.finishAndReleaseAll();
        link.finishAndReleaseAll();
    }

    @Benchmark
    public int payloadToSocketAndCreditBack(PayloadBytes moved) {
        mux.onFrame(Frame.payload(1, payload.retainedDuplicate()));
        mux.linkReadComplete();
        int drained = 0;
        Object out;
        while ((out = socket.readOutbound()) != null) {
            drained += ((ByteBuf) out).readableBytes();
            ReferenceCountUtil.release(out);
        }
        link.runPendingTasks();
        while ((out = link.readOutbound()) != null) {
            ReferenceCountUtil.release(out); // the Window frames returning credit to the (absent) sender
        }
        moved.bytes += drained;
        return drained;
    }
}
