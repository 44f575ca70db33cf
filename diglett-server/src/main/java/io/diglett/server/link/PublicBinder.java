package io.diglett.server.link;

import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;

/** How a tunnel's public listener is bound ({@link PublicListeners}); tests put fakes in to drive sessions without sockets. */
@FunctionalInterface
public interface PublicBinder {

    /** Binds {@code tunnel}'s listener on {@code loop}, paused (no accepts) until the tunnel goes live. */
    Future<Channel> bind(Tunnel tunnel, EventLoop loop);
}
