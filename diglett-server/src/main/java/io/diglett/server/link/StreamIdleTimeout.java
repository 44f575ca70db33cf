package io.diglett.server.link;

import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Stream;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code --tcp-idle-timeout}: a public connection carried as opaque bytes (a name's port, a TLS passthrough on the
 * ingress) that has read and written nothing for the timeout is reset, its stream with a reason the agent is
 * told. First in the client's pipeline, so it sees the socket's own reads and writes; it runs on the socket's
 * event loop and hands the reset to the stream's (the link's) loop, which may be another one.
 */
public final class StreamIdleTimeout extends IdleStateHandler {

    private static final Logger log = LoggerFactory.getLogger(StreamIdleTimeout.class);

    private final Duration timeout;
    private final LinkEvents events;

    public StreamIdleTimeout(Duration timeout, LinkEvents events) {
        super(0, 0, timeout.toMillis(), TimeUnit.MILLISECONDS);
        this.timeout = timeout;
        this.events = events;
    }

    @Override
    protected void channelIdle(ChannelHandlerContext ctx, IdleStateEvent evt) {
        events.idleClosed("tcp");
        String reason = "idle for " + timeout.toMillis() + " ms (--tcp-idle-timeout)";
        log.debug("client={} {}: reset", ctx.channel().remoteAddress(), reason);
        ChannelHandlerContext stream = ctx.pipeline().context(HandlerNames.STREAM);
        if (stream != null && stream.handler() instanceof Stream s) {
            stream.executor().execute(() -> s.reset(reason, true));
        } else {
            Stream.abort(ctx.channel());
        }
        ctx.pipeline().remove(this); // once is enough: the connection is going
    }
}
