package io.diglett.protocol.mux;

/**
 * Names of every pipeline handler, in one place. The order on the agent link, both sides:
 *
 * <pre>
 *   TLS_DETECT     TlsDetector       gateway only: TLS record -> replaced by TLS; anything else refused
 *   TLS            SslHandler        TLS 1.3 (absent with --plaintext on both sides)
 *   HANDSHAKE      HandshakeDecoder  reads the peer's magic + version, then removes itself
 *   FRAME_DECODER  FrameDecoder      bytes -> Frame, sticky errors
 *   FRAME_ENCODER  FrameEncoder      Frame -> bytes
 *   KEEPALIVE      Heartbeat         Ping on an idle link, declares a silent one dead (added once active)
 *   SESSION        GatewaySession / AgentSession (a LinkSession): login, registration, stream frames
 * </pre>
 *
 * On every public client socket (gateway) and backend socket (agent): {@code STREAM}, the {@link Stream}.
 */
public final class HandlerNames {
    public static final String TLS_DETECT = "tls-detect";
    public static final String TLS = "tls";
    public static final String HANDSHAKE = "handshake";
    public static final String FRAME_DECODER = "frame-decoder";
    public static final String FRAME_ENCODER = "frame-encoder";
    public static final String KEEPALIVE = "keepalive";
    public static final String SESSION = "session";
    public static final String STREAM = "stream";

    private HandlerNames() {
    }
}
