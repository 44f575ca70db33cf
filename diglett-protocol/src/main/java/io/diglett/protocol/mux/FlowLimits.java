package io.diglett.protocol.mux;

import io.netty.channel.Channel;
import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * What bounds the streams of a link beyond their windows: the process's {@link BufferBudget}, and how long a
 * local socket may accept nothing while bytes wait for it before its stream is reset.
 *
 * @param budget       what all streams may hold, shared by every link of the process
 * @param stallTimeout a stream whose socket accepted no byte for this long while bytes waited is reset;
 *                     {@link Duration#ZERO} for never
 * @param nanoClock    monotonic time in nanoseconds (tests pass their own)
 * @param sockets      what to do to a stream's local socket when memory becomes tight for it and when it no
 *                     longer is (the transport holds its kernel queue smaller meanwhile)
 */
public record FlowLimits(BufferBudget budget, Duration stallTimeout, LongSupplier nanoClock, SocketQueue sockets) {

    /**
     * Sizes a local socket's kernel queue for the memory situation; called on the stream's loop by the mux's
     * sweep, twice a second at most per socket, and only when the situation changed for its stream.
     */
    @FunctionalInterface
    public interface SocketQueue {
        /** No change: the socket keeps what it was opened with. */
        SocketQueue NONE = (socket, tight) -> { };

        void memoryTight(Channel socket, boolean tight);
    }

    public FlowLimits(BufferBudget budget, Duration stallTimeout, LongSupplier nanoClock) {
        this(budget, stallTimeout, nanoClock, SocketQueue.NONE);
    }

    /** The default stall timeout: a minute, as long as a reverse proxy waits for a client to read. */
    public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(60);

    public FlowLimits {
        if (stallTimeout.isNegative()) {
            throw new IllegalArgumentException("the stall timeout must not be negative");
        }
    }

    /** No budget and no stall timeout: only the windows bound what streams hold. */
    public static FlowLimits unbounded() {
        return new FlowLimits(BufferBudget.unlimited(), Duration.ZERO, System::nanoTime);
    }

    /** {@code budget} and a stall timeout of {@code stallTimeout}, on the system's clock. */
    public static FlowLimits of(BufferBudget budget, Duration stallTimeout) {
        return new FlowLimits(budget, stallTimeout, System::nanoTime);
    }

    /** These limits, with {@code sockets} sizing the stream sockets' kernel queues while memory is tight. */
    public FlowLimits withSockets(SocketQueue sockets) {
        return new FlowLimits(budget, stallTimeout, nanoClock, sockets);
    }
}
