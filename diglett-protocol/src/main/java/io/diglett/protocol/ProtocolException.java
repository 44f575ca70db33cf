package io.diglett.protocol;

import io.netty.handler.codec.DecoderException;

/**
 * The peer broke the protocol. The message is meant for humans on both sides: it is logged and sent in an
 * Error frame before the connection is closed.
 */
public final class ProtocolException extends DecoderException {
    private static final long serialVersionUID = 1L;

    private final boolean refusal;

    public ProtocolException(String message) {
        this(message, false);
    }

    private ProtocolException(String message, boolean refusal) {
        super(message);
        this.refusal = refusal;
    }

    /** A violation that means "go away for good": the peer is told with a Refuse frame, not an Error. */
    public static ProtocolException refusal(String message) {
        return new ProtocolException(message, true);
    }

    /** Whether the peer should not try again ({@link #refusal}). */
    public boolean isRefusal() {
        return refusal;
    }
}
