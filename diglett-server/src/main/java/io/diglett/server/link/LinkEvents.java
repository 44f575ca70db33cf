package io.diglett.server.link;

/**
 * What agent links report for monitoring (the gateway's metrics implement it). Called on links' event loops:
 * implementations return at once.
 */
public interface LinkEvents {

    /**
     * A link ended before it was active; {@code stage}: not_tls, handshake, login, registration, timeout, or a
     * pre-login limit ({@link LinkAdmission}): pending_logins, pending_logins_per_ip, evicted (a pending
     * connection closed for a new one, the pending pool being full), first_byte_timeout, login_timeout,
     * max_agents.
     */
    void handshakeFailed(String stage);

    /** A login or name was refused; {@code reason}: login_refused, name_not_allowed, name_reserved, name_in_use,
     * name_invalid, name_operator_site (the registrar refused it for good), withdrawn. */
    void refused(String reason);

    /** A stream's backend connected, {@code seconds} after its Open. */
    void streamOpened(double seconds);

    /**
     * A public connection (a name's port or the ingress) was refused; {@code reason}: per_ip_limit (its client
     * address has {@code --max-connections-per-ip} open), stream_limit (the agent has its most streams open),
     * agent_unavailable (the agent is not connected or is leaving).
     */
    default void connectionRefused(String reason) {
    }

    /** A public connection was closed for idleness; {@code kind}: ingress (HTTP keep-alive) or tcp. */
    /** A link joined an agent's session (version 5). */
    default void linkJoined() {
    }

    default void idleClosed(String kind) {
    }

    /** Reports nothing. */
    LinkEvents NONE = new LinkEvents() {
        @Override
        public void handshakeFailed(String stage) {
        }

        @Override
        public void refused(String reason) {
        }

        @Override
        public void streamOpened(double seconds) {
        }
    };
}
