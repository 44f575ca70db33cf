package io.diglett.protocol.mux;

/**
 * Life of a stream, seen from one side, named as in HTTP/2. "Local" is this side's socket, "remote" the peer.
 *
 * <pre>
 *  OPENING --opened--> OPEN --send FIN--> HALF_CLOSED_LOCAL --receive FIN--> CLOSED
 *                        \--receive FIN--> HALF_CLOSED_REMOTE --send FIN--> CLOSED
 *  any state --reset (Close frame, error, socket lost)--> CLOSED
 * </pre>
 */
public enum StreamState {
    /** Gateway: Open sent, waiting for the agent's Ok. Agent: connecting the backend. No data either way. */
    OPENING,
    /** Data flows both ways. */
    OPEN,
    /** We sent FIN: our socket's input ended. We still write what the peer sends to our socket. */
    HALF_CLOSED_LOCAL,
    /** The peer sent FIN: our socket's output is shut down. We still send what our socket gives us. */
    HALF_CLOSED_REMOTE,
    /** Done, by both FINs or by a reset. The stream leaves the mux once its socket is closed. */
    CLOSED;

    /** Whether this side may still send Payload frames. */
    public boolean canSend() {
        return this == OPEN || this == HALF_CLOSED_REMOTE;
    }

    /** Whether the peer may still send Payload frames. */
    public boolean canReceive() {
        return this == OPEN || this == HALF_CLOSED_LOCAL;
    }
}
