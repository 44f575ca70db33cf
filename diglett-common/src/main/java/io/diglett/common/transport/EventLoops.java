package io.diglett.common.transport;

import io.netty.channel.EventLoopGroup;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Stopping the programs' event-loop groups. */
public final class EventLoops {

    private static final Logger log = LoggerFactory.getLogger(EventLoops.class);

    /** How long a program's stop waits for its event loops before it goes on without them. */
    public static final int PROGRAM_STOP_SECONDS = 10;

    private EventLoops() {
    }

    /**
     * {@link #stop} for a program's own loops at its end (the gateway's, the agent's): at most
     * {@value #PROGRAM_STOP_SECONDS} s, then a warning, and the program exits without them.
     */
    public static void stopProgramLoops(EventLoopGroup group) {
        if (!stop(group, PROGRAM_STOP_SECONDS, TimeUnit.SECONDS)) {
            log.warn("the event loops did not stop within {} s; stopping without them", PROGRAM_STOP_SECONDS);
        }
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
