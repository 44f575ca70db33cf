package io.diglett.common.transport;

import io.netty.channel.EventLoopGroup;
import java.util.concurrent.TimeUnit;

/** Stopping the programs' event-loop groups. */
public final class EventLoops {

    private EventLoops() {
    }

    /**
     * Stops {@code group} (no quiet period, its loops given a second to finish what they run) and waits for that
     * at most {@code bound}. A loop blocked in a task, or a group whose end is never signalled, must not keep a
     * stopping program alive: the loops' threads are daemons, so the caller can go on and the process exits.
     *
     * @return whether the group had stopped within the bound
     */
    public static boolean stop(EventLoopGroup group, long bound, TimeUnit unit) {
        return group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(bound, unit);
    }
}
