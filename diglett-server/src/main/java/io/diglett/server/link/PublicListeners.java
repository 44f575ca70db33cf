package io.diglett.server.link;

import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Stream;
import io.diglett.common.transport.Transport;
import io.diglett.protocol.Reasons;
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
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Set;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Binds the public listener of a name on its agent link's event loop, paused (no accepts) until the name goes
 * live; with {@code --port-range}, on a free port of the range. A name that had a port within the port grace
 * ({@link PortReservations}) tries that one first, and other names avoid it while another port is free; other
 * names get the range's ports least recently used first. Each
 * accepted connection is first counted against its client address ({@link ClientConnections}; over the cap it
 * is reset at once) and, with {@code --tcp-idle-timeout}, gets a {@link StreamIdleTimeout}; one from an upstream of
 * {@code --accept-proxy-from} only once its PROXY header told who the client is ({@link ProxyHeaderGate}).
 */
public final class PublicListeners implements PublicBinder {

    private static final Logger log = LoggerFactory.getLogger(PublicListeners.class);

    private final Transport transport;
    private final Supplier<GatewayConfig> config;
    private final PortReservations reservations;
    private final ClientConnections clients;
    private final Supplier<PublicLimits> limits;
    private final LinkEvents events;
    /** Which bound ports a name may keep: in a cluster, those no other name holds anywhere. */
    private final NameRegistry names;

    public PublicListeners(Transport transport, Supplier<GatewayConfig> config, PortReservations reservations,
                           ClientConnections clients, Supplier<PublicLimits> limits, LinkEvents events,
                           NameRegistry names) {
        this.names = names;
        this.transport = transport;
        this.config = config;
        this.reservations = reservations;
        this.clients = clients;
        this.limits = limits;
        this.events = events;
    }

    @Override
    public Future<Channel> bind(Tunnel tunnel, EventLoop loop) {
        GatewayConfig settings = config.get();
        ServerBootstrap bootstrap = bootstrap(settings, loop, tunnel.connectionLoops(), ch -> accepted(tunnel, ch))
                .option(ChannelOption.AUTO_READ, false);
        Promise<Channel> promise = loop.newPromise();
        PortReservations.Owner owner = PortReservations.Owner.of(tunnel);
        int here = reservations.previous(owner);
        // in a cluster, when it had no port here: the one it had on another node
        int previous = here != 0 ? here : names.previousPort(tunnel.name());
        Iterator<Integer> candidates = candidates(settings.portRange(), owner, previous);
        attempt(bootstrap, settings.publicBind(), settings.portRange(), candidates, null, promise, tunnel, loop);
        promise.addListener(f -> {
            if (!f.isSuccess()) {
                return;
            }
            Channel listener = promise.getNow();
            int port = ((InetSocketAddress) listener.localAddress()).getPort();
            reservations.bound(owner, port, listener);
            listener.closeFuture().addListener(c -> {
                reservations.released(port);
                reservations.closed(owner, listener, tunnel.since() != null);
            });
            if (previous == port) {
                log.info("'{}' gets its previous port {} back", tunnel.name(), port);
            } else if (previous != 0) {
                log.info("'{}' cannot have its previous port {} back (taken), it gets port {}", tunnel.name(),
                        previous, port);
            }
        });
        return promise;
    }

    /**
     * A public port's listener: accepted connections paused, half-closable, bounded by the stream's socket marks,
     * and handed to {@code accepted} once their client is known (after a PROXY header, for the addresses of
     * {@code --accept-proxy-from}).
     */
    private ServerBootstrap bootstrap(GatewayConfig settings, EventLoop parent, io.netty.channel.EventLoopGroup children,
                                      java.util.function.Consumer<Channel> accepted) {
        return transport.limitUnsentAccepted(new ServerBootstrap(), settings.buffers().unsentPerSocket())
                .group(parent, children)
                .channel(transport.serverChannel())
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, Stream.socketWaterMark(settings.window()))
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ProxyHeaderGate.setUp(ch, settings.forwarding(),
                                settings.limits().handshakeTimeout().toMillis(), () -> accepted.accept(ch));
                    }
                });
    }

    /** A connection to {@code tunnel}'s port, its client known (from a PROXY header if it came through one). */
    private void accepted(Tunnel tunnel, Channel ch) {
        if (!clients.admit(ch, "name=" + tunnel.name())) {
            Stream.abort(ch);
            return;
        }
        if (tunnel.visitors().admit(ClientAddress.remote(ch)) != VisitorPolicy.Decision.ALLOWED) {
            Stream.abort(ch); // refused by the name's visitor policy: closed at once, nothing reaches the agent
            return;
        }
        Duration idle = limits.get().tcpIdleTimeout();
        if (!idle.isZero()) {
            ch.pipeline().addLast(HandlerNames.IDLE, new StreamIdleTimeout(idle, events));
        }
        tunnel.accept(ch);
    }

    /** Without a range, how often a port the system chose is asked for again when another name's grace holds it. */
    private static final int ANY_PORT_TRIES = 8;

    /**
     * The ports to try, in order: the owner's previous one; then, with a range, the ports never used yet from a
     * random start, then those used before, released longest ago first (a port just given up goes to another name
     * last), all skipping those reserved for others, and last those reserved ones, released longest ago first;
     * without a range, any port the system gives (0), asked again (up to {@link #ANY_PORT_TRIES} times) while it
     * gives one reserved for another name.
     */
    private Iterator<Integer> candidates(PortRange range, PortReservations.Owner owner, int previous) {
        if (range == null) {
            List<Integer> ports = new ArrayList<>(Collections.nCopies(ANY_PORT_TRIES, 0));
            if (previous != 0) {
                ports.add(0, previous);
            }
            return ports.iterator();
        }
        int start = ThreadLocalRandom.current().nextInt(range.size());
        boolean previousInRange = previous >= range.low() && previous <= range.high();
        Set<Integer> avoid = reservations.reservedForOthers(owner); // one look, not one per port
        List<Integer> used = reservations.releasedOldestFirst(range.low(), range.high());
        Set<Integer> usedBefore = new HashSet<>(used);
        return new Iterator<>() {
            private int index = previousInRange ? -1 : 0;
            private Iterator<Integer> usedPorts;
            private Iterator<Integer> reserved;
            private Integer next = advance();

            private Integer advance() {
                while (index < range.size()) {
                    int port = index < 0 ? previous : range.low() + (start + index) % range.size();
                    index++;
                    if (index > 0 && port == previous && previousInRange) {
                        continue; // tried first
                    }
                    if (port == previous || !avoid.contains(port) && !usedBefore.contains(port)) {
                        return port;
                    }
                }
                if (usedPorts == null) {
                    usedPorts = used.stream().filter(port -> port != previous && !avoid.contains(port)).iterator();
                }
                if (usedPorts.hasNext()) {
                    return usedPorts.next();
                }
                if (reserved == null) {
                    reserved = reservations.reservedForOthersOldestFirst(owner).stream()
                            .filter(port -> port >= range.low() && port <= range.high()).iterator();
                }
                return reserved.hasNext() ? reserved.next() : null;
            }

            @Override
            public boolean hasNext() {
                return next != null;
            }

            @Override
            public Integer next() {
                if (next == null) {
                    throw new NoSuchElementException();
                }
                Integer current = next;
                next = advance();
                return current;
            }
        };
    }

    /**
     * Tries the candidates one after another until one binds and the registry lets the name have it (in a
     * cluster: no other name holds it on any node).
     */
    private void attempt(ServerBootstrap bootstrap, String address, PortRange range, Iterator<Integer> candidates,
                         Throwable last, Promise<Channel> promise, Tunnel tunnel, EventLoop loop) {
        if (!candidates.hasNext()) {
            promise.setFailure(range != null ? new BindException("no free port in range " + range)
                    : last != null ? last : new BindException("no port to bind"));
            return;
        }
        int candidate = candidates.next();
        ChannelFuture bind = bootstrap.bind(address, candidate);
        bind.addListener(f -> {
            if (!f.isSuccess()) {
                if (candidate != 0 && range == null) {
                    log.debug("cannot bind port {} again: {}", candidate, Reasons.of(f.cause()));
                }
                attempt(bootstrap, address, range, candidates, f.cause(), promise, tunnel, loop);
                return;
            }
            Channel listener = bind.channel();
            int port = ((InetSocketAddress) listener.localAddress()).getPort();
            if (candidate == 0 && candidates.hasNext()
                    && reservations.reservedForOthers(PortReservations.Owner.of(tunnel)).contains(port)) {
                // the system's choice is a port in its grace for another name: ask again
                listener.close();
                attempt(bootstrap, address, range, candidates, null, promise, tunnel, loop);
                return;
            }
            names.claimPort(tunnel, port, listener).whenComplete((granted, error) -> loop.execute(() -> {
                if (error != null) {
                    listener.close();
                    promise.setFailure(error);
                } else if (!granted) {
                    listener.close();
                    attempt(bootstrap, address, range, candidates,
                            new BindException("port " + port + " is another name's in the cluster"), promise, tunnel,
                            loop);
                } else if (!promise.trySuccess(listener)) {
                    listener.close();
                }
            }));
        });
    }

    /**
     * Binds {@code port} on this gateway's public address for a name another node of the cluster holds: its
     * connections, under the same per-address cap, PROXY header gate and idle timeout as a name's own port, go
     * where {@code target} says (forwarded to that node), or are reset when it names nothing now.
     */
    public ChannelFuture bindElsewhere(int port, String name, Supplier<java.util.Optional<StreamTarget>> target,
                                         io.netty.channel.EventLoopGroup group) {
        GatewayConfig settings = config.get();
        ServerBootstrap bootstrap = bootstrap(settings, group.next(), group, ch -> acceptedFor(name, target, ch));
        return bootstrap.bind(settings.publicBind(), port);
    }

    private void acceptedFor(String name, Supplier<java.util.Optional<StreamTarget>> target, Channel ch) {
        if (!clients.admit(ch, "name=" + name)) {
            Stream.abort(ch);
            return;
        }
        Duration idle = limits.get().tcpIdleTimeout();
        if (!idle.isZero()) {
            ch.pipeline().addLast(HandlerNames.IDLE, new StreamIdleTimeout(idle, events));
        }
        StreamTarget to = target.get().orElse(null);
        if (to == null || to.visitors().admit(ClientAddress.remote(ch)) != VisitorPolicy.Decision.ALLOWED) {
            Stream.abort(ch); // nothing there now, or refused by the name's visitor policy (its holder's record)
            return;
        }
        to.openStream(ch, Stream.TCP, busy -> {
            if (busy != null) {
                ch.eventLoop().execute(() -> Stream.abort(ch));
            }
        });
    }
}
