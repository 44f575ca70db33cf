package io.diglett.protocol;

/**
 * Every frame kind, its code on the wire and the payload sizes it allows. Codes 0-7 are the seed's, kept;
 * 8-13 are new in version 2; version 3 changed only Open's payload; 14-16 are new in version 5; 17-18 in version 6. Sizes are checked by {@link FrameDecoder}
 * from the header, before the payload is read, so a peer cannot make us buffer more than {@link #maxPayload()}
 * bytes for a frame.
 */
public enum FrameKind {
    /** Positive reply to Login, Register (port + public URLs), FinishRegister or Open (window). */
    OK(0, 0, 1024),
    /** Negative reply to the same requests; with id 0 it is fatal and the sender closes the connection. UTF-8 reason. */
    ERROR(1, 0, 1024),
    /** Agent asks for a public name: id = registration id chosen by the agent; the name, optionally 0x00 + flags. */
    REGISTER(2, 1, 63 + 2),
    /** Agent has sent all its registrations; the gateway opens the listeners and answers Ok(0). */
    FINISH_REGISTER(3, 0, 0),
    /** Stream data: id = stream, 1 to 65535 bytes, counted against the receiver's window. */
    PAYLOAD(4, 1, Protocol.MAX_PAYLOAD),
    /** Reset a stream (both directions, at once); optional UTF-8 reason. */
    CLOSE(5, 0, 1024),
    /** The sender is ending the whole session (id 0); optional UTF-8 reason. */
    TERMINATE(6, 0, 1024),
    /** First request of the agent (id 0): the UTF-8 token, possibly empty. */
    LOGIN(7, 0, 1024),
    /**
     * Gateway opens a stream for a new public connection: registration (4), window (4), then the client's and the
     * gateway's address, as binary fields (version 3: 10-46 bytes, see {@link Requests.Open}) or one text (version
     * 2: 8-263 bytes). The range checked from the header covers both layouts; {@link Requests.Open#decode} checks
     * the exact one.
     */
    OPEN(8, 8, 8 + 255),
    /** Receiver returns credit on a stream: 4-byte increment, 1 to 2^31-1, after data really reached its socket. */
    WINDOW(9, 4, 4),
    /** Half-close: the sender will send no more data on this stream, and still reads what comes. */
    FIN(10, 0, 0),
    /** Liveness probe (id 0), 8 opaque bytes, answered by Pong with the same bytes. */
    PING(11, 8, 8),
    /** Answer to Ping, echoing its 8 bytes. */
    PONG(12, 8, 8),
    /** The gateway refuses the agent for good (token, name, version): UTF-8 reason; the agent must not retry. */
    REFUSE(13, 0, 1024),
    /** Version 5: instead of Login, a link asks to join a session (id 0): the session id (16). */
    JOIN(14, 16, 16),
    /** Version 5: the gateway's answer to Join (id 0): 16 random bytes the agent proves its key on. */
    CHALLENGE(15, 16, 16),
    /** Version 5: the agent's answer to a Challenge (id 0): HMAC-SHA256 under the session's join key (32). */
    PROOF(16, 32, 32),
    /**
     * Version 6: the gateway tells the agent where one of its names stands (id = registration): a topic (1: the
     * name's HTTPS certificate) and UTF-8 text; the agent shows it, nothing depends on it.
     */
    NOTICE(17, 1, 1 + 512),
    /**
     * Version 6: the visitor policy of the registration named by the id, sent before its Register: UTF-8 lines
     * {@code RULE VALUE} ({@link Policy}).
     */
    POLICY(18, 1, 4096);

    private static final FrameKind[] BY_CODE = new FrameKind[256];

    static {
        for (FrameKind kind : values()) {
            BY_CODE[kind.code] = kind;
        }
    }

    private final int code;
    private final int minPayload;
    private final int maxPayload;

    FrameKind(int code, int minPayload, int maxPayload) {
        this.code = code;
        this.minPayload = minPayload;
        this.maxPayload = maxPayload;
    }

    /** The byte on the wire. */
    public int code() {
        return code;
    }

    /** Smallest payload this kind may carry. */
    public int minPayload() {
        return minPayload;
    }

    /** Largest payload this kind may carry. */
    public int maxPayload() {
        return maxPayload;
    }

    /** The kind for a wire code, or {@code null} if the code is not one of ours. */
    public static FrameKind of(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }
}
