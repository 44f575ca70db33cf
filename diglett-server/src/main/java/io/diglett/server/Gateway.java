package io.diglett.server;

import io.diglett.common.HostPort;
import io.diglett.common.Version;
import io.diglett.common.transport.Fingerprint;
import io.diglett.common.transport.Transport;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.LinkPipeline;
import io.diglett.protocol.mux.Stream;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.Promise;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway: accepts agent links and, for each name an agent registers, a public listener whose connections
 * are carried to that agent. Each link, its listeners and their connections live on one event loop.
 */
public final class Gateway implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Gateway.class);

    /** Link write buffer: streams pause reading above the high mark, resume below the low one. */
    static final WriteBufferWaterMark LINK_WATER_MARK = new WriteBufferWaterMark(512 * 1024, 1024 * 1024);

    /** Limits, authenticator and registrar are replaced by a reload (SIGHUP): see {@link GatewayReload}. */
    private volatile GatewayConfig config;
    private volatile Authenticator authenticator;
    private volatile Registrar registrar;
    private final NameRegistry names = new NameRegistry();
    private final Transport transport = Transport.best();
    private final EventLoopGroup acceptor;
    private final EventLoopGroup workers;
    private final ChannelGroup links = new DefaultChannelGroup("agent-links", GlobalEventExecutor.INSTANCE);
    private Channel server;
    private GatewayTls tls;
    /** The HTTP/HTTPS ingress for NAME.DOMAIN, or {@code null} without --http / --https. */
    private Ingress ingress;
    /** The admin endpoint, or {@code null} without --admin. */
    private GatewayAdmin admin;
    /** Agent links open now; counted atomically since links are accepted onto several event loops. */
    private final AtomicInteger connected = new AtomicInteger();
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
    private final GatewayMetrics metrics = new GatewayMetrics(names::live, this::agents);
    /** Monotonic time for latencies; wall time for "since". Tests may replace them. */
    java.util.function.LongSupplier nanoClock = System::nanoTime;
    java.time.Clock clock = java.time.Clock.systemUTC();

    public Gateway(GatewayConfig config, Authenticator authenticator, Registrar registrar) {
        this.config = config;
        this.authenticator = authenticator;
        this.registrar = registrar;
        this.acceptor = transport.newGroup(1, "diglett-accept");
        this.workers = transport.newGroup(0, "diglett-io");
    }

    public Gateway(GatewayConfig config) {
        this(config, Authenticator.open(), Registrar.log());
    }

    GatewayConfig config() {
        return config;
    }

    Authenticator authenticator() {
        return authenticator;
    }

    Registrar registrar() {
        return registrar;
    }

    NameRegistry names() {
        return names;
    }

    GatewayMetrics metrics() {
        return metrics;
    }

    /** The registry behind {@code /metrics}. */
    public io.prometheus.metrics.model.registry.PrometheusRegistry metricsRegistry() {
        return metrics.registry;
    }

    /**
     * Loads the TLS identity, binds the agent listener and returns its address (useful with port 0).
     *
     * @throws Exception when the certificate cannot be loaded or the address cannot be bound
     */
    public InetSocketAddress start() throws Exception {
        if (!config.tls().plaintext()) {
            tls = GatewayTls.load(config.tls());
        }
        if (authenticator.admitsEveryone()) {
            log.warn("no --auth-file: any agent may register any name; see docs/security.md");
        }
        authenticator.onChange(this::reauthorizeAll);
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(acceptor, workers)
                .channel(transport.serverChannel())
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, LINK_WATER_MARK)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        initLink(ch);
                    }
                });
        server = bootstrap.bind(config.listen().host(), config.listen().port()).sync().channel();
        if (config.ingress().enabled()) {
            ingress = new Ingress(config, names, metrics);
            ingress.start(acceptor, workers, transport);
        }
        InetSocketAddress address = (InetSocketAddress) server.localAddress();
        log.info("{} listening for agents on {} ({}, {}, public listeners on {}{})",
                Version.describe("diglett-server"), new HostPort(config.listen().host(), address.getPort()),
                transport.name().toLowerCase(), tls == null ? "PLAINTEXT, no TLS" : "TLS 1.3 via " + io.diglett.common.transport.Tls.describe() + " " + tls.fingerprint(),
                config.publicBind(), config.portRange() == null ? "" : " ports " + config.portRange());
        if (tls == null) {
            log.warn("--plaintext: the agent link is neither encrypted nor authenticated; use it only on a"
                    + " network you trust");
        }
        return address;
    }

    private void initLink(Channel ch) {
        if (connected.incrementAndGet() > config.limits().maxAgents()) {
            connected.decrementAndGet();
            log.warn("agent {} refused: {} agents connected, the limit", ch.remoteAddress(),
                    config.limits().maxAgents());
            ch.close();
            return;
        }
        ch.closeFuture().addListener(f -> connected.decrementAndGet());
        links.add(ch);
        LinkPipeline.assemble(ch.pipeline(), HandlerNames.TLS_DETECT,
                tls == null ? null : new TlsDetector(tls.context()), new GatewaySession(this));
        log.debug("agent connected from {}", ch.remoteAddress());
    }

    /** New limits: links, registrations, streams and handshakes from now on are held to them. */
    public synchronized void updateLimits(GatewayConfig.Limits limits) {
        config = config.withLimits(limits);
    }

    /** Puts {@code next} in place (every live tunnel is authorized again) and returns the previous one, to close. */
    synchronized Authenticator replaceAuthenticator(Authenticator next) {
        Authenticator previous = authenticator;
        next.onChange(this::reauthorizeAll);
        authenticator = next;
        reauthorizeAll();
        return previous;
    }

    /** Puts {@code next} in place and returns the previous one; moving the live names over is the caller's job. */
    synchronized Registrar replaceRegistrar(Registrar next) {
        Registrar previous = registrar;
        registrar = next;
        return previous;
    }

    /** The authenticator's decisions changed: every session checks its names again, on its own loop. */
    private void reauthorizeAll() {
        for (Channel link : links) {
            if (link.pipeline().get(HandlerNames.SESSION) instanceof GatewaySession session) {
                link.eventLoop().execute(session::reauthorize);
            }
        }
    }

    /** The fingerprint of the gateway's TLS certificate, or {@code null} with --plaintext. */
    public Fingerprint fingerprint() {
        return tls == null ? null : tls.fingerprint();
    }

    /** How public listeners are bound; tests swap it to drive sessions without sockets. */
    interface PublicBinder {
        Future<Channel> bind(Tunnel tunnel, EventLoop loop);
    }

    PublicBinder binder = this::bindListener;

    /** Binds {@code tunnel}'s public listener on {@code loop}, paused (no accepts) until it goes live. */
    Future<Channel> bindPublic(Tunnel tunnel, EventLoop loop) {
        return binder.bind(tunnel, loop);
    }

    private Future<Channel> bindListener(Tunnel tunnel, EventLoop loop) {
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(loop)
                .channel(transport.serverChannel())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, Stream.socketWaterMark(config.window()))
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        tunnel.session.accept(tunnel, ch);
                    }
                });
        Promise<Channel> promise = loop.newPromise();
        PortRange range = config.portRange();
        if (range == null) {
            bindAttempt(bootstrap, 0, null, 0, 0, promise);
        } else {
            bindAttempt(bootstrap, range.low(), range, ThreadLocalRandom.current().nextInt(range.size()), 0,
                    promise);
        }
        return promise;
    }

    /** Tries ports of the range one after another from a random start, until one binds. */
    private void bindAttempt(ServerBootstrap bootstrap, int port, PortRange range, int start, int attempt,
                             Promise<Channel> promise) {
        int candidate = range == null ? port : range.low() + (start + attempt) % range.size();
        ChannelFuture bind = bootstrap.bind(config.publicBind(), candidate);
        bind.addListener(f -> {
            if (f.isSuccess()) {
                promise.setSuccess(bind.channel());
            } else if (range != null && attempt + 1 < range.size()) {
                bindAttempt(bootstrap, port, range, start, attempt + 1, promise);
            } else if (range != null) {
                promise.setFailure(new BindException("no free port in range " + range));
            } else {
                promise.setFailure(f.cause());
            }
        });
    }

    /** The public port of {@code name}, if an agent holds it. */
    public OptionalInt publicPort(String name) {
        Tunnel tunnel = names.get(name);
        return tunnel == null || tunnel.port == 0 ? OptionalInt.empty() : OptionalInt.of(tunnel.port);
    }

    /**
     * Starts the admin endpoint ({@code /metrics}, {@code /api/tunnels}, the dashboard) on {@code at};
     * {@code token}, if not null, is required as a bearer token. Returns the bound address.
     */
    public InetSocketAddress startAdmin(HostPort at, String token) throws InterruptedException {
        admin = new GatewayAdmin(this, token);
        return admin.start(at);
    }

    /** The public URLs of {@code tunnel} on the ingress (sent to its agent); empty without one. */
    List<String> urls(Tunnel tunnel) {
        return ingress == null ? List.of() : ingress.urls(tunnel);
    }

    /** The port of the HTTP ingress, if it runs. */
    public OptionalInt httpPort() {
        return ingress == null || ingress.httpPort() == 0 ? OptionalInt.empty() : OptionalInt.of(ingress.httpPort());
    }

    /** The port of the HTTPS ingress, if it runs. */
    public OptionalInt httpsPort() {
        return ingress == null || ingress.httpsPort() == 0 ? OptionalInt.empty()
                : OptionalInt.of(ingress.httpsPort());
    }

    /** Agents connected right now. */
    public int agents() {
        return links.size();
    }

    /**
     * Shuts down gracefully: stops accepting agents and public connections, tells every agent (Terminate),
     * lets open streams finish for up to the drain timeout, then closes everything and stops the event loops.
     * Later calls do nothing.
     */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        if (server != null) {
            server.close().syncUninterruptibly();
        }
        if (ingress != null) {
            ingress.close();
        }
        if (admin != null) {
            admin.close();
        }
        List<Future<Void>> drained = new ArrayList<>();
        for (Channel link : links) {
            if (link.pipeline().get(HandlerNames.SESSION) instanceof GatewaySession session) {
                link.eventLoop().execute(() -> session.drain("gateway shutting down"));
                drained.add(session.closeFuture());
            } else {
                link.close();
            }
        }
        long deadline = System.nanoTime() + config.limits().drainTimeout().toNanos();
        for (Future<Void> future : drained) {
            future.awaitUninterruptibly(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        }
        if (!links.isEmpty()) {
            log.warn("drain timeout: closing {} agent link(s) with open connections", links.size());
        }
        links.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        authenticator.close();
        registrar.close();
        acceptor.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
