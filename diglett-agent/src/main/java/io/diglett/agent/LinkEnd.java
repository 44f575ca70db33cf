package io.diglett.agent;

/**
 * How one link to the gateway ended.
 *
 * @param reason   in words, for the log
 * @param rejected the gateway (or its identity check) refused us: retrying will not help
 * @param join     for a link that joined, or tried to join, the agent's session: what the gateway said of it
 */
record LinkEnd(String reason, boolean rejected, Join join) {

    /** What a link's end means for the agent's session (protocol version 5). */
    enum Join {
        /** Nothing: a link that logged in, or a joined link that was lost. */
        NONE,
        /** The gateway knows no such session (it ended, or the gateway restarted): the agent logs in anew. */
        SESSION_GONE,
        /** The gateway refused this link for good (its link limit): the agent runs with the links it has. */
        REFUSED
    }

    LinkEnd(String reason, boolean rejected) {
        this(reason, rejected, Join.NONE);
    }
}
