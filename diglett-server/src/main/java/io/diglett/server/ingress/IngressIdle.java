package io.diglett.server.ingress;

import io.diglett.server.link.LinkEvents;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code --ingress-idle-timeout}: an HTTP ingress connection that has read and written nothing for the timeout
 * (output that is still draining to the client counts as writing) is closed, unless a request is in progress on
 * it ({@link HttpIngress#requestInProgress()}: the client is still sending one, or its response has not reached
 * its last byte, or the connection was upgraded). Such a connection is looked at again after each further timeout. First in the
 * pipeline, so it sees the socket's own reads and writes (TLS records on HTTPS); runs on the connection's loop,
 * like {@link HttpIngress}.
 */
final class IngressIdle extends IdleStateHandler {

    private static final Logger log = LoggerFactory.getLogger(IngressIdle.class);

    private final Duration timeout;
    private final HttpIngress ingress;
    private final LinkEvents events;

    IngressIdle(Duration timeout, HttpIngress ingress, LinkEvents events) {
        super(true, 0, 0, timeout.toMillis(), TimeUnit.MILLISECONDS);
        this.timeout = timeout;
        this.ingress = ingress;
        this.events = events;
    }

    @Override
    protected void channelIdle(ChannelHandlerContext ctx, IdleStateEvent evt) {
        if (ingress.requestInProgress()) {
            return;
        }
        events.idleClosed("ingress");
        log.debug("ingress client={} idle for {} ms with no request in progress: closing",
                ctx.channel().remoteAddress(), timeout.toMillis());
        ctx.close();
    }
}
