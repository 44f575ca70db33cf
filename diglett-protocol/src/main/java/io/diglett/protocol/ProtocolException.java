package io.diglett.protocol;

import io.netty.handler.codec.DecoderException;

/**
 * The peer broke the protocol. The message is meant for humans on both sides: it is logged and sent in an
 * Error frame before the connection is closed.
 */
public final class ProtocolException extends DecoderException {
    private static final long serialVersionUID = 1L;

    public ProtocolException(String message) {
        super(message);
    }
}
