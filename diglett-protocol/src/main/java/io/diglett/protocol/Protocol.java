package io.diglett.protocol;

/**
 * Constants of the Diglett wire protocol. {@code docs/protocol.md} is the byte-level specification; this class
 * and {@link FrameKind} are its code.
 */
public final class Protocol {

    /** First four bytes each side sends: ASCII "digl", big-endian. The seed's value, kept. */
    public static final int MAGIC = 0x6469676c;

    /**
     * Protocol version spoken here, the newest: what the agent sends and the most the gateway answers. The seed was
     * version 1 (ECDH + unauthenticated ChaCha20); version 2 brought TLS, stream windows and the kinds 8-13;
     * version 3 carries Open's addresses as binary fields; version 4 adds the agent's instance id to Login and lets
     * the gateway withdraw one name of a live link; version 5 lets an agent keep several links in one session
     * ({@link Joining}); version 6 adds Notice, the gateway's word on a name's state ({@link Signals.Notice};
     * docs/protocol.md, section 9).
     */
    public static final byte VERSION = 6;

    /**
     * Oldest version a gateway still serves: an agent of version 2 gets a version-2 link (its handshake answered
     * with 2, Open in the version-2 layout), one of version 3 a version-3 link (Login without an instance id). An
     * agent speaks {@link #VERSION}, and {@link #OLDEST_GATEWAY_VERSION} to an older gateway.
     */
    public static final int OLDEST_SERVED_VERSION = 2;

    /**
     * Oldest gateway version an agent goes on with: a version-4 gateway answers a version-6 agent with 4, and the
     * agent runs that version with one link and without notices (version 5 adds joined links, version 6 Notice).
     */
    public static final int OLDEST_GATEWAY_VERSION = 4;

    /** Length of the handshake: magic (4) + version (1). */
    public static final int HANDSHAKE_LENGTH = 5;

    /** Length of a frame header: kind (1) + id (4) + size (2). */
    public static final int HEADER_LENGTH = 7;

    /** Largest payload a frame can carry: the size field is an unsigned 16-bit integer. */
    public static final int MAX_PAYLOAD = 0xFFFF;

    /** Port the gateway listens on for agents unless told otherwise. */
    public static final int DEFAULT_GATEWAY_PORT = 20000;

    /**
     * Default per-stream receive window in bytes. 256 KiB covers the bandwidth-delay product of a 20 Mbit/s
     * link at 100 ms, or 2 Gbit/s at 1 ms, while bounding what one stream can make the other side buffer.
     */
    public static final int DEFAULT_WINDOW = 256 * 1024;

    /** Smallest window a side may advertise: one full frame, so a sender can always make progress. */
    public static final int MIN_WINDOW = MAX_PAYLOAD;

    /** Id of frames that concern the whole connection rather than a registration or a stream. */
    public static final int CONNECTION_ID = 0;

    private Protocol() {
    }
}
