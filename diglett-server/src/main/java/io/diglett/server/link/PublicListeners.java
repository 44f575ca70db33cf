package io.diglett.server.link;

import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Stream;
import io.diglett.common.transport.Transport;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.PortRange;
import io.diglett.server.config.PublicLimits;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.net.BindException;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * Binds the public listener of a name on its agent link's event loop, paused (no accepts) until the name goes
 * live; with {@code --port-range}, on a free port of the range. Each accepted connection is first counted
 * against its client address ({@link ClientConnections}; over the cap it is reset at once) and, with
 * {@code --tcp-idle-timeout}, gets a {@link StreamIdleTimeout}.
 */
public final class PublicListeners implements PublicBinder {

    private final Transport transport;
    private final Supplier<GatewayConfig> config;
    private final ClientConnections clients;
    private final Supplier<PublicLimits> limits;
    private final LinkEvents events;

    public PublicListeners(Transport transport, Supplier<GatewayConfig> config, ClientConnections clients,
                           Supplier<PublicLimits> limits, LinkEvents events) {
        this.transport = transport;
        this.config = config;
        this.clients = clients;
        this.limits = limits;
        this.events = events;
    }

    @Override
    public Future<Channel> bind(Tunnel tunnel, EventLoop loop) {
        GatewayConfig settings = config.get();
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(loop)
                .channel(transport.serverChannel())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, Stream.socketWaterMark(settings.window()))
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (!clients.admit(ch, "name=" + tunnel.name())) {
                            Stream.abort(ch);
                            return;
                        }
                        Duration idle = limits.get().tcpIdleTimeout();
                        if (!idle.isZero()) {
                            ch.pipeline().addLast(HandlerNames.IDLE, new StreamIdleTimeout(idle, events));
                        }
                        tunnel.accept(ch);
                    }
                });
        Promise<Channel> promise = loop.newPromise();
        PortRange range = settings.portRange();
        int start = range == null ? 0 : ThreadLocalRandom.current().nextInt(range.size());
        attempt(bootstrap, settings.publicBind(), range, start, 0, promise);
        return promise;
    }

    /** Tries ports of the range one after another from a random start, until one binds; any port without one. */
    private static void attempt(ServerBootstrap bootstrap, String address, PortRange range, int start, int attempt,
                                Promise<Channel> promise) {
        int candidate = range == null ? 0 : range.low() + (start + attempt) % range.size();
        ChannelFuture bind = bootstrap.bind(address, candidate);
        bind.addListener(f -> {
            if (f.isSuccess()) {
                promise.setSuccess(bind.channel());
            } else if (range != null && attempt + 1 < range.size()) {
                attempt(bootstrap, address, range, start, attempt + 1, promise);
            } else if (range != null) {
                promise.setFailure(new BindException("no free port in range " + range));
            } else {
                promise.setFailure(f.cause());
            }
        });
    }
}
