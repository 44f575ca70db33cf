package io.diglett.common.transport;

import io.diglett.protocol.mux.BufferBudget;
import io.diglett.protocol.mux.FlowLimits;
import java.time.Duration;

/**
 * What bounds the bytes a process holds for the sockets its streams carry (docs/security.md, "Memory"): the
 * {@link BufferBudget} of all streams, per link and per client address, the stall timeout, and how many unsent
 * bytes the kernel may queue per stream socket.
 *
 * @param total           bytes all streams may hold for their sockets
 * @param perLink         bytes the streams of one link (one agent) may hold
 * @param perClient       bytes the streams of one client address may hold
 * @param stallTimeout    a stream whose socket takes no byte for this long while data waits is reset; zero: never
 * @param unsentPerSocket unsent bytes the kernel may queue per stream socket (TCP_NOTSENT_LOWAT on Linux)
 */
public record BufferSettings(long total, long perLink, long perClient, Duration stallTimeout, int unsentPerSocket) {

    /** Default kernel queue of unsent bytes per stream socket: enough for a window's worth in flight. */
    public static final int DEFAULT_UNSENT_PER_SOCKET = 128 * 1024;

    public BufferSettings {
        if (total <= 0 || perLink <= 0 || perClient <= 0 || unsentPerSocket <= 0) {
            throw new IllegalArgumentException("buffer limits must be positive");
        }
        if (stallTimeout.isNegative()) {
            throw new IllegalArgumentException("the stall timeout must not be negative");
        }
    }

    /**
     * The defaults: a total of a quarter of the JVM's direct memory ({@link BufferBudget#defaultTotal()}), half of it per
     * link and a quarter per client address, a stall timeout of a minute.
     */
    public static BufferSettings defaults() {
        return derive(-1, -1, -1, FlowLimits.DEFAULT_STALL_TIMEOUT, DEFAULT_UNSENT_PER_SOCKET);
    }

    /** Settings from options where -1 means "derive": the total from the JVM, the shares from the total. */
    public static BufferSettings derive(long total, long perLink, long perClient, Duration stallTimeout,
                                        int unsentPerSocket) {
        long t = total > 0 ? total : BufferBudget.defaultTotal();
        return new BufferSettings(t, perLink > 0 ? perLink : Math.max(1, t / 2),
                perClient > 0 ? perClient : Math.max(1, t / 4), stallTimeout, unsentPerSocket);
    }

    /** A new budget with these limits, to share between every link of the process. */
    public FlowLimits flowLimits() {
        return FlowLimits.of(new BufferBudget(total, perLink, perClient), stallTimeout)
                .withSockets((socket, tight) -> Transport.holdUnsent(socket,
                        tight ? Math.min(unsentPerSocket, Transport.STREAM_UNSENT_WHILE_TIGHT) : unsentPerSocket));
    }
}
