package io.diglett.agent;

import io.diglett.common.transport.Transport;
import io.diglett.protocol.Reasons;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Heartbeat;
import io.diglett.protocol.mux.FlowLimits;
import io.diglett.protocol.mux.LinkPipeline;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProtocols;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent: one link at a time to the gateway, carrying every public connection of its names to their
 * backends. The link and all backend connections share one event loop. When the link is lost the agent
 * reconnects with exponential backoff and registers its names again; only a refusal (token, name, the
 * gateway's identity) stops it.
 */
public final class Agent implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Agent.class);

    static final WriteBufferWaterMark LINK_WATER_MARK = new WriteBufferWaterMark(512 * 1024, 1024 * 1024);

    private final AgentConfig config;
    private final Transport transport = Transport.best();
    private final EventLoopGroup group;
    private final EventLoop loop;
    private final Backoff backoff;
    private final CompletableFuture<List<Registration>> firstOnline = new CompletableFuture<>();
    private final CompletableFuture<String> stopped = new CompletableFuture<>();
    private SslContext tls;
    private volatile Channel link;
    private volatile boolean closing;
    private final AtomicBoolean closeCalled = new AtomicBoolean();
    private boolean wasOnline;
    /** Whether the current link came online; when the last one that had ended (System.nanoTime). */
    private boolean linkOnline;
    private long lostOnlineLinkAt;
    private volatile int timesOnline;
    private ScheduledFuture<?> retry;
    private final AgentStatus status;
    /** The buffer budget every link of this agent (one at a time) shares, and the stall timeout. */
    private final FlowLimits flow;
    /** Tells the buffer budget when the kernel's socket memory is short. */
    private final io.diglett.common.transport.TcpMemory tcpMemory;
    /** Random, made once per agent: sent at every login, so the gateway knows our new link from another agent's. */
    private final java.util.UUID instance = io.diglett.protocol.Requests.Login.newInstance();
    private AgentAdmin admin;

    public Agent(AgentConfig config) {
        this.config = config;
        this.status = new AgentStatus(config, java.time.Clock.systemUTC());
        this.flow = config.buffers().flowLimits();
        this.tcpMemory = new io.diglett.common.transport.TcpMemory(flow.budget());
        this.group = transport.newGroup(1, "diglett-agent");
        this.loop = group.next();
        this.backoff = new Backoff(config.reconnectCap(), new Random());
    }

    /**
     * Starts dialing. The future completes with the registrations once the tunnels are first live, or
     * exceptionally with {@link RejectedException} when the gateway refused the agent. Unreachable gateways
     * and lost links are retried; the future stays pending meanwhile.
     */
    public CompletableFuture<List<Registration>> start() {
        tcpMemory.onChange(memoryShort -> {
            Channel current = link;
            if (current != null) {
                io.diglett.common.transport.Transport.shortOfMemory(current, memoryShort);
            }
        });
        tcpMemory.start(loop);
        try {
            tls = config.trust().plaintext() ? null : SslContextBuilder.forClient()
                    .sslProvider(io.diglett.common.transport.Tls.provider())
                    .protocols(SslProtocols.TLS_v1_3)
                    .endpointIdentificationAlgorithm("HTTPS")
                    .trustManager(new GatewayTrustManager(config.trust(), config.gateway().toString()))
                    .build();
        } catch (GeneralSecurityException | SSLException e) {
            stop("cannot set up TLS: " + Reasons.of(e), e);
            return firstOnline;
        }
        if (config.trust().plaintext()) {
            log.warn("--plaintext: the link to the gateway is neither encrypted nor authenticated");
        }
        loop.execute(this::connect);
        return firstOnline;
    }

    /** What the agent is doing: state, names, figures, recent connections (for views and the admin API). */
    public AgentStatus status() {
        return status;
    }

    /**
     * Starts the admin endpoint ({@code /metrics}, {@code /api/status}) on {@code at}; {@code token}, if not
     * null, is required as a bearer token. Returns the bound address.
     */
    public InetSocketAddress startAdmin(io.diglett.common.HostPort at, String token) throws InterruptedException {
        return startAdmin(at, token, List.of());
    }

    /** {@link #startAdmin(io.diglett.common.HostPort, String)}, also answering the Host names {@code hosts}. */
    public InetSocketAddress startAdmin(io.diglett.common.HostPort at, String token, List<String> hosts)
            throws InterruptedException {
        admin = new AgentAdmin(status, token, hosts);
        return admin.start(at);
    }

    /** Completes, with the reason, when the agent has stopped for good: refused, or closed. */
    public CompletableFuture<String> closed() {
        return stopped;
    }

    /** Resolves the backends off the event loop (DNS may block), then dials from the loop. */
    private void connect() {
        if (closing) {
            return;
        }
        CompletableFuture.supplyAsync(() -> {
            try {
                return resolveBackends();
            } catch (UnknownHostException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }).whenComplete((targets, error) -> {
            if (loop.isShuttingDown()) {
                return;
            }
            loop.execute(() -> {
                if (error != null) {
                    ended(new LinkEnd(Reasons.of(error.getCause() != null ? error.getCause() : error),
                            false));
                } else {
                    dial(targets);
                }
            });
        });
    }

    private void dial(List<AgentSession.Target> targets) {
        if (closing) {
            stopped.complete("agent stopped");
            return;
        }
        log.info("connecting to gateway {}", config.gateway());
        status.state(AgentStatus.State.CONNECTING);
        CompletableFuture<List<Registration>> online = new CompletableFuture<>();
        CompletableFuture<LinkEnd> ended = new CompletableFuture<>();
        boolean inUseMayBeOurs = wasOnline && System.nanoTime() - lostOnlineLinkAt < inUseGraceNanos();
        Bootstrap bootstrap = new Bootstrap()
                .group(loop)
                .channel(transport.socketChannel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, config.connectTimeoutMillis())
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, LINK_WATER_MARK)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        io.diglett.common.transport.Transport.shortOfMemory(ch, flow.budget().systemPressure());
                        LinkPipeline.assemble(ch.pipeline(), HandlerNames.TLS, tls == null ? null
                                        : tls.newHandler(ch.alloc(), config.gateway().host(), config.gateway().port()),
                                new AgentSession(config, transport, targets, inUseMayBeOurs, instance, online, ended,
                                        status, flow));
                    }
                });
        ChannelFuture connect = bootstrap.connect(config.gateway().host(), config.gateway().port());
        link = connect.channel();
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                ended.complete(new LinkEnd("cannot reach gateway " + config.gateway() + ": "
                        + Reasons.of(f.cause()), false));
            }
        });
        online.thenAccept(this::online);
        ended.thenAccept(this::ended);
    }

    private List<AgentSession.Target> resolveBackends() throws UnknownHostException {
        List<AgentSession.Target> targets = new ArrayList<>();
        int registration = 1;
        for (TunnelSpec spec : config.tunnels()) {
            InetSocketAddress backend = new InetSocketAddress(spec.backend().host(), spec.backend().port());
            if (backend.isUnresolved()) {
                throw new UnknownHostException("cannot resolve backend host '" + spec.backend().host() + "'");
            }
            targets.add(new AgentSession.Target(registration++, spec, backend));
        }
        return targets;
    }

    /** How many times the agent has come online (1 after the first link, more after reconnects). */
    public int timesOnline() {
        return timesOnline;
    }

    /**
     * How long after losing an online link a name "already in use" (which the gateway answers so only when
     * neither link has a token) is retried, as possibly still held by that link: the gateway declares a silent
     * link dead three heartbeat intervals after it last heard from it, which was no later than our loss. One more
     * interval covers timers and a gateway heartbeat a little longer than ours; after that the name is taken
     * by someone else and the agent stops rather than retrying for ever.
     */
    private long inUseGraceNanos() {
        return (Heartbeat.DEAD_AFTER_INTERVALS + 1) * config.heartbeat().toNanos();
    }

    private void online(List<Registration> registrations) {
        wasOnline = true;
        linkOnline = true;
        timesOnline++;
        backoff.reset();
        status.online(registrations);
        for (Registration registration : registrations) {
            // port 0: the gateway serves the name on its ingress only, without a raw port
            String raw = registration.publicPort() == 0 ? null : config.gateway().host() + ":" + registration.publicPort();
            String urls = String.join(", ", registration.urls());
            String where = registration.urls().isEmpty() ? raw : raw == null ? urls : urls + " and " + raw;
            log.info("online: '{}' is reachable at {} -> {}", registration.name(), where, backendOf(registration.name()));
        }
        firstOnline.complete(registrations);
    }

    private Object backendOf(String name) {
        return config.tunnels().stream().filter(t -> t.name().equals(name)).findFirst()
                .map(TunnelSpec::backend).orElse(null);
    }

    /** A link is over: stop if refused or closing, else try again after the backoff. Runs on the loop. */
    private void ended(LinkEnd end) {
        link = null;
        if (linkOnline) {
            linkOnline = false;
            lostOnlineLinkAt = System.nanoTime();
        }
        if (closing) {
            stopped.complete("agent stopped");
            return;
        }
        if (end.rejected()) {
            log.error("the gateway refused this agent: {}", end.reason());
            status.error(end.reason());
            status.state(AgentStatus.State.REFUSED);
            stop(end.reason(), new RejectedException(end.reason()));
            return;
        }
        long delay = backoff.nextMillis();
        status.retrying(end.reason(), java.time.Duration.ofMillis(delay));
        log.warn("{}; reconnecting in {} s", end.reason(), String.format("%.1f", delay / 1000.0));
        retry = loop.schedule(this::connect, delay, TimeUnit.MILLISECONDS);
    }

    private void stop(String reason, Throwable cause) {
        firstOnline.completeExceptionally(cause);
        stopped.complete(reason);
    }

    /**
     * Tells the gateway (Terminate), closes the link and stops the event loop; waits for that unless called
     * on the agent's own thread (from one of its futures' callbacks).
     */
    @Override
    public void close() {
        if (closeCalled.getAndSet(true)) {
            return;
        }
        closing = true;
        status.state(AgentStatus.State.STOPPED);
        if (admin != null) {
            admin.close();
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        loop.execute(() -> {
            if (retry != null) {
                retry.cancel(false);
            }
            Channel channel = link;
            if (channel != null && channel.pipeline().get(HandlerNames.SESSION) instanceof AgentSession session) {
                session.stop();
                channel.closeFuture().addListener(f -> done.complete(null));
            } else {
                if (channel != null) {
                    channel.close();
                }
                done.complete(null);
            }
        });
        stopped.complete("agent stopped");
        firstOnline.completeExceptionally(new IOException("agent stopped"));
        if (loop.inEventLoop()) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            return;
        }
        try {
            done.get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            log.debug("closing the link took too long: {}", e.toString());
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
