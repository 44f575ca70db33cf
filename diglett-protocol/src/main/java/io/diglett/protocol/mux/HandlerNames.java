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
 * On every public client socket (gateway) and backend socket (agent): {@code STREAM}, the {@link Stream};
 * on the gateway's public sockets {@code IDLE} in front of it when an idle timeout applies.
 *
 * <p>On a connection to the gateway's ingress (its HTTP and HTTPS listeners, routed by name):
 *
 * <pre>
 *   IDLE           idle timeout      first, once the connection is HTTP (ingress idle timeout) or passthrough
 *                                    (--tcp-idle-timeout); sees the socket's own reads and writes
 *   SNI            TlsIngress        HTTPS only: reads the TLS server name; a passthrough tunnel -> replaced
 *                                    by INGRESS (RawIngress); otherwise replaced by TLS
 *   TLS            SslHandler        HTTPS only: terminates TLS with the ingress certificate
 *   HTTP_DECODER   HttpRequestDecoder bytes -> requests (removed after a WebSocket / Upgrade switch)
 *   INGRESS        HttpIngress       routes each request by Host, adds X-Forwarded-*, error pages;
 *                  or RawIngress     passthrough: the TLS bytes as they are
 *   STREAM         Stream            added once routed, on the agent link's event loop
 * </pre>
 *
 * <p>On a node link of a cluster (docs/protocol.md, section 10), once its forwarding handshake is done (by the
 * entry's dialer under {@code HANDSHAKE}, the holder's acceptor under {@code SESSION}, each replaced by the
 * first of these):
 *
 * <pre>
 *   FRAME_DECODER  FrameDecoder      bytes -> Frame
 *   FRAME_ENCODER  FrameEncoder      Frame -> bytes
 *   KEEPALIVE      Heartbeat         Ping on an idle link, declares a silent one dead
 *   SESSION        NodeLink (entry) / HolderLink (holder), a LinkSession: the streams of one name
 * </pre>
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
    public static final String SNI = "sni";
    public static final String HTTP_DECODER = "http-decoder";
    public static final String INGRESS = "ingress";
    public static final String IDLE = "idle";

    private HandlerNames() {
    }
}
