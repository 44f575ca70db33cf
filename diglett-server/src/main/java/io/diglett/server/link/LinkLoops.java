package io.diglett.server.link;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.AbstractEventExecutorGroup;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The child "group" of a name's public listener: it registers each accepted connection on the event loop of the
 * link of the session that will carry it ({@link LinkGroup#place}: the fewest streams), so the connection, its
 * stream and the link share one thread, as they did with one link. The assignment rides on the connection
 * ({@link #assignment}) until {@link LinkGroup#accept} takes it; a connection closed before that gives it back.
 * With no link to take it, the connection goes to the session's home loop and is refused there. It owns no
 * thread: shutting it down does nothing, the gateway's groups own the loops.
 */
final class LinkLoops extends AbstractEventExecutorGroup implements EventLoopGroup {

    private static final AttributeKey<GatewaySession> ASSIGNED = AttributeKey.valueOf("diglett.link");

    private final LinkGroup group;

    LinkLoops(LinkGroup group) {
        this.group = group;
    }

    /** Takes the link {@code client} was assigned to when accepted, or {@code null}. */
    static GatewaySession assignment(Channel client) {
        return client.attr(ASSIGNED).getAndSet(null);
    }

    @Override
    public ChannelFuture register(Channel channel) {
        return register(channel.newPromise());
    }

    @Override
    public ChannelFuture register(ChannelPromise promise) {
        Channel channel = promise.channel();
        GatewaySession link = group.place(null);
        if (link != null) {
            channel.attr(ASSIGNED).set(link);
            channel.closeFuture().addListener(f -> unplace(channel));
            // a registration that fails closes the channel forcibly, which does not complete its close future
            promise.addListener(f -> {
                if (!f.isSuccess()) {
                    unplace(channel);
                }
            });
        }
        return (link == null ? group.eventLoop() : link.eventLoop()).register(promise);
    }

    /** Gives back the place of a connection that never reached {@link LinkGroup#accept}. */
    private static void unplace(Channel channel) {
        GatewaySession unused = assignment(channel);
        if (unused != null) {
            unused.unplace();
        }
    }

    @Deprecated
    @Override
    public ChannelFuture register(Channel channel, ChannelPromise promise) {
        return register(promise);
    }

    @Override
    public EventLoop next() {
        return group.eventLoop();
    }

    @Override
    public Iterator<EventExecutor> iterator() {
        return List.<EventExecutor>of(group.eventLoop()).iterator();
    }

    @Override
    public boolean isShuttingDown() {
        return group.eventLoop().isShuttingDown();
    }

    @Override
    public Future<?> shutdownGracefully(long quietPeriod, long timeout, TimeUnit unit) {
        return terminationFuture();
    }

    @Override
    public Future<?> terminationFuture() {
        return group.eventLoop().terminationFuture();
    }

    @Deprecated
    @Override
    public void shutdown() {
        // the gateway's event-loop groups own the threads
    }

    @Override
    public boolean isShutdown() {
        return group.eventLoop().isShutdown();
    }

    @Override
    public boolean isTerminated() {
        return group.eventLoop().isTerminated();
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
        return group.eventLoop().awaitTermination(timeout, unit);
    }
}
