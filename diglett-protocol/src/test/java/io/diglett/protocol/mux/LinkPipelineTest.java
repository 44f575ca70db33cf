package io.diglett.protocol.mux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.diglett.protocol.Frame;
import io.diglett.protocol.Handshake;
import io.diglett.protocol.Protocol;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The agent link's handlers, in the order both ends use. */
class LinkPipelineTest {

    /** A session that does nothing: only its place in the pipeline matters here. */
    private static final class IdleSession extends LinkSession {
        IdleSession() {
            super(Protocol.DEFAULT_WINDOW);
        }

        @Override
        protected void onHandshake(Handshake handshake) {
        }

        @Override
        protected void onFrame(Frame frame) {
        }

        @Override
        protected boolean streamsAllowed() {
            return false;
        }

        @Override
        protected void onClosed() {
        }
    }

    private static List<String> names(String securityName, ChannelHandler security) {
        EmbeddedChannel channel = new EmbeddedChannel();
        try {
            LinkPipeline.assemble(channel.pipeline(), securityName, security, new IdleSession());
            // the pipeline's own tail context comes last
            return channel.pipeline().names().subList(0, channel.pipeline().names().size() - 1);
        } finally {
            channel.finishAndReleaseAll();
        }
    }

    @Test
    void theSecurityHandlerThenHandshakeFramesAndSession() {
        assertEquals(List.of("handshake", "frame-decoder", "frame-encoder", "session"),
                names(HandlerNames.TLS, null), "--plaintext: no security handler");
        assertEquals(List.of("tls", "handshake", "frame-decoder", "frame-encoder", "session"),
                names(HandlerNames.TLS, new ChannelInboundHandlerAdapter()), "the agent");
        assertEquals(List.of("tls-detect", "handshake", "frame-decoder", "frame-encoder", "session"),
                names(HandlerNames.TLS_DETECT, new ChannelInboundHandlerAdapter()), "the gateway");
    }

    @Test
    void onlyTlsOrItsDetectorSecuresALink() {
        assertThrows(IllegalArgumentException.class,
                () -> names(HandlerNames.STREAM, new ChannelInboundHandlerAdapter()));
    }
}
