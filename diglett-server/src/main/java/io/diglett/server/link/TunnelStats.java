package io.diglett.server.link;

import io.diglett.protocol.mux.StreamObserver;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.DoubleConsumer;
import java.util.function.LongSupplier;

/**
 * Live figures of one tunnel: streams open, connections accepted, bytes each way. Written on the tunnel's
 * link loop (by its streams' observers), read by the admin endpoint and the metrics from their own threads.
 */
public final class TunnelStats {
    /** Bytes from public clients toward the backend. */
    private final LongAdder bytesIn = new LongAdder();
    /** Bytes from the backend to public clients. */
    private final LongAdder bytesOut = new LongAdder();
    private final LongAdder connections = new LongAdder();
    private final AtomicInteger open = new AtomicInteger();

    TunnelStats() {
    }

    /** Streams open now. */
    public int open() {
        return open.get();
    }

    /** Public connections accepted so far. */
    public long connections() {
        return connections.sum();
    }

    /** Bytes carried from public clients to the backend. */
    public long bytesIn() {
        return bytesIn.sum();
    }

    /** Bytes carried from the backend to public clients. */
    public long bytesOut() {
        return bytesOut.sum();
    }

    /**
     * The observer of one new stream of this tunnel; {@code openLatency} is told the seconds from the Open
     * to the agent's Ok (the backend connected).
     */
    StreamObserver newStream(LongSupplier nanoClock, DoubleConsumer openLatency) {
        connections.increment();
        open.incrementAndGet();
        long start = nanoClock.getAsLong();
        return new StreamObserver() {
            @Override
            public void opened() {
                openLatency.accept((nanoClock.getAsLong() - start) / 1e9);
            }

            @Override
            public void sent(int bytes) {
                bytesIn.add(bytes);
            }

            @Override
            public void received(int bytes) {
                bytesOut.add(bytes);
            }

            @Override
            public void closed(boolean clean, String reason) {
                open.decrementAndGet();
            }
        };
    }
}
