package io.diglett.protocol.mux;

import io.diglett.protocol.FrameDecoder;
import io.diglett.protocol.FrameEncoder;
import io.diglett.protocol.HandshakeDecoder;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelPipeline;

/**
 * An agent link's pipeline, the same on both ends ({@link HandlerNames} has the table): the handler that
 * secures the link, if there is one, then {@code HANDSHAKE}, {@code FRAME_DECODER}, {@code FRAME_ENCODER} and
 * the {@code SESSION}. The programs bring the security handler (the agent's {@code SslHandler} as {@code TLS},
 * the gateway's {@code TlsDetector} as {@code TLS_DETECT}) and their session; the protocol's handlers and
 * their order are set here. The session adds {@code KEEPALIVE} itself once the link is up.
 */
public final class LinkPipeline {

    private LinkPipeline() {
    }

    /**
     * Adds the link's handlers to {@code pipeline}: {@code security} under {@code securityName}
     * ({@link HandlerNames#TLS} or {@link HandlerNames#TLS_DETECT}) unless it is {@code null} (--plaintext),
     * then the protocol's handlers and {@code session}.
     */
    public static ChannelPipeline assemble(ChannelPipeline pipeline, String securityName, ChannelHandler security,
                                           LinkSession session) {
        if (!securityName.equals(HandlerNames.TLS) && !securityName.equals(HandlerNames.TLS_DETECT)) {
            throw new IllegalArgumentException("a link is secured by '" + HandlerNames.TLS + "' or '"
                    + HandlerNames.TLS_DETECT + "', not '" + securityName + "'");
        }
        if (security != null) {
            pipeline.addLast(securityName, security);
        }
        return pipeline
                .addLast(HandlerNames.HANDSHAKE, new HandshakeDecoder())
                .addLast(HandlerNames.FRAME_DECODER, new FrameDecoder())
                .addLast(HandlerNames.FRAME_ENCODER, FrameEncoder.INSTANCE)
                .addLast(HandlerNames.SESSION, session);
    }
}
