package io.diglett.agent;

import io.diglett.common.transport.EventLoops;
import io.diglett.common.transport.Transport;
import io.diglett.protocol.Joining;
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
 * The agent: its links to the gateway (one per {@code --links}), carrying every public connection of its names to
 * their backends. One link logs in and registers the names; the others join its session (protocol version 5) and
 * take their share of the streams. Each link has an event loop of its own, shared with the backend connections of
 * its streams. A lost link is opened again after its backoff (joining the session while the gateway still holds
 * it, else logging in and registering again); only a refusal (token, name, the gateway's identity) stops the agent.
 * The agent's own state (which link logs in, the session, the figures of coming online) is touched on the first
 * link's loop only.
 */
public final class Agent implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Agent.class);

    static final WriteBufferWaterMark LINK_WATER_MARK = new WriteBufferWaterMark(512 * 1024, 1024 * 1024);

    /** One of the agent's links: its loop and backoff, and where it is. Control loop only, but {@code link}. */
    private final class Slot {
        final int number;
        final EventLoop loop;
        final Backoff backoff = new Backoff(config.reconnectCap(), new Random());
        /** The connection, while there is one (read by close and the memory watch from any thread). */
        volatile Channel link;
        /** Dialing, logging in, joining or online: not to be dialed again. */
        boolean busy;
        boolean online;
        /** Refused by the gateway for this session (its link limit), or unused next to a version-4 gateway. */
        boolean unused;
        /** The gateway address its link dials or dialled last. */
        GatewayTargets.Target target;
        ScheduledFuture<?> retry;

        Slot(int number, EventLoop loop) {
            this.number = number;
            this.loop = loop;
        }
    }

    private final AgentConfig config;
    private final Transport transport = Transport.best();
    private final EventLoopGroup group;
    /** The first link's loop: the agent's own state lives there. */
    private final EventLoop control;
    private final List<Slot> slots = new ArrayList<>();
    private final CompletableFuture<List<Registration>> firstOnline = new CompletableFuture<>();
    private final CompletableFuture<String> stopped = new CompletableFuture<>();
    private SslContext tls;
    private volatile boolean closing;
    private final AtomicBoolean closeCalled = new AtomicBoolean();
    private boolean wasOnline;
    /** When the agent last lost its last online link (System.nanoTime). */
    private long lostOnlineLinkAt;
    private volatile int timesOnline;
    private final AgentStatus status;
    /** The buffer budget every link of this agent shares, and the stall timeout. */
    private final FlowLimits flow;
    /** Tells the buffer budget when the kernel's socket memory is short. */
    private final io.diglett.common.transport.TcpMemory tcpMemory;
    /** Random, made once per agent: sent at every login, so the gateway knows our new link from another agent's. */
    private final java.util.UUID instance = io.diglett.protocol.Requests.Login.newInstance();
    private AgentAdmin admin;
    /** The session the links share (version 5), or {@code null}: none yet, gone, or a gateway of version 4. */
    private Joining.Session session;
    /** Every address of every gateway given, and the one the agent dials now. */
    private final GatewayTargets gateways;
    /** Where the session is: its links join it there. */
    private GatewayTargets.Target sessionGateway;
    /** The link logging in now, or {@code null}. */
    private Slot loggingIn;
    /** The names as the gateway registered them at the last login. */
    private List<Registration> registrations = List.of();

    public Agent(AgentConfig config) {
        this.config = config;
        this.gateways = new GatewayTargets(config.gateways());
        this.status = new AgentStatus(config, java.time.Clock.systemUTC());
        this.flow = config.buffers().flowLimits();
        this.tcpMemory = new io.diglett.common.transport.TcpMemory(flow.budget());
        this.group = transport.newGroup(config.links(), "diglett-agent");
        java.util.Iterator<io.netty.util.concurrent.EventExecutor> loops = group.iterator();
        for (int number = 1; number <= config.links(); number++) {
            slots.add(new Slot(number, (EventLoop) loops.next()));
        }
        this.control = slots.get(0).loop;
    }

    /**
     * Starts dialing. The future completes with the registrations once the tunnels are first live, or
     * exceptionally with {@link RejectedException} when the gateway refused the agent. Unreachable gateways
     * and lost links are retried; the future stays pending meanwhile.
     */
    public CompletableFuture<List<Registration>> start() {
        Transport.askedButUnavailable().ifPresent(log::warn);
        tcpMemory.onChange(memoryShort -> {
            for (Slot slot : slots) {
                Channel current = slot.link;
                if (current != null) {
                    Transport.shortOfMemory(current, memoryShort);
                }
            }
        });
        tcpMemory.start(control);
        try {
            tls = config.trust().plaintext() ? null : SslContextBuilder.forClient()
                    .sslProvider(io.diglett.common.transport.Tls.provider())
                    .protocols(SslProtocols.TLS_v1_3)
                    .endpointIdentificationAlgorithm("HTTPS")
                    .trustManager(new GatewayTrustManager(config.trust(), config.gateway().toString()))
                    .build();
        } catch (SSLException e) {
            stop("cannot set up TLS: " + Reasons.of(e), e);
            return firstOnline;
        }
        if (config.trust().plaintext()) {
            log.warn("--plaintext: the link to the gateway is neither encrypted nor authenticated");
        }
        control.execute(() -> connect(slots.get(0)));
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

    /**
     * Opens {@code slot}'s link: joining the session if there is one, else logging in, unless another link is
     * logging in now (this one is started once that one is online). Resolves the backends off the event loop (DNS
     * may block), then dials from the slot's loop. Runs on the control loop.
     */
    private void connect(Slot slot) {
        if (closing || slot.busy || slot.unused) {
            return;
        }
        if (slot.retry != null) {
            slot.retry.cancel(false);
            slot.retry = null;
        }
        Joining.Session join = session;
        if (join == null) {
            if (loggingIn != null) {
                return; // started once the login is online (or by its own retry)
            }
            loggingIn = slot;
        }
        slot.busy = true;
        CompletableFuture.supplyAsync(() -> {
            try {
                return new Resolved(resolveBackends(), join == null ? gateways.resolve() : null);
            } catch (UnknownHostException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }).whenComplete((resolved, error) -> {
            if (control.isShuttingDown()) {
                return;
            }
            control.execute(() -> {
                if (error != null) {
                    Throwable cause = error.getCause() != null ? error.getCause() : error;
                    ended(slot, join, new LinkEnd(Reasons.of(cause), false));
                    return;
                }
                GatewayTargets.Target target = resolved.gateways() != null ? gateways.use(resolved.gateways())
                        : sessionGateway != null ? sessionGateway : gateways.current();
                if (target == null) { // a join before any login resolved the gateways: cannot happen, but be safe
                    ended(slot, join, new LinkEnd("no gateway address yet", false));
                    return;
                }
                dial(slot, resolved.backends(), join, target);
            });
        });
    }

    /** What a link needs resolved before it dials: its backends and, to log in, the gateways' addresses. */
    private record Resolved(List<AgentSession.Target> backends, List<GatewayTargets.Target> gateways) {
    }

    private void dial(Slot slot, List<AgentSession.Target> targets, Joining.Session join,
                      GatewayTargets.Target gateway) {
        if (closing) {
            slot.busy = false;
            stoppedIfIdle();
            return;
        }
        slot.target = gateway;
        if (join == null) {
            log.info("connecting to gateway {} over {}", gateway, transport.label());
            status.gateway(gateway.gateway());
            status.state(onlineLinks() > 0 ? AgentStatus.State.ONLINE : AgentStatus.State.CONNECTING);
        } else {
            log.debug("link {}: joining the session at gateway {}", slot.number, gateway);
        }
        status.link(slot.number, AgentStatus.LinkState.CONNECTING, 0);
        CompletableFuture<List<Registration>> online = new CompletableFuture<>();
        CompletableFuture<LinkEnd> ended = new CompletableFuture<>();
        boolean inUseMayBeOurs = wasOnline && System.nanoTime() - lostOnlineLinkAt < inUseGraceNanos();
        AgentSession[] made = new AgentSession[1];
        Bootstrap bootstrap = new Bootstrap()
                .group(slot.loop)
                .channel(transport.socketChannel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, config.connectTimeoutMillis())
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, LINK_WATER_MARK)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        io.diglett.common.transport.Transport.shortOfMemory(ch, flow.budget().systemPressure());
                        made[0] = new AgentSession(config, transport, targets, inUseMayBeOurs, instance, join,
                                status.link(slot.number), online, ended, status, flow);
                        LinkPipeline.assemble(ch.pipeline(), HandlerNames.TLS, tls == null ? null
                                        : tls.newHandler(ch.alloc(), gateway.gateway().host(),
                                                gateway.gateway().port()),
                                made[0]);
                    }
                });
        ChannelFuture connect = bootstrap.connect(gateway.address());
        slot.link = connect.channel();
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                ended.complete(new LinkEnd("cannot reach gateway " + gateway + ": "
                        + Reasons.of(f.cause()), false));
            }
        });
        online.thenAccept(names -> control.execute(() -> online(slot, made[0], names)));
        ended.thenAccept(end -> control.execute(() -> ended(slot, join, end)));
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

    private int onlineLinks() {
        int online = 0;
        for (Slot slot : slots) {
            if (slot.online) {
                online++;
            }
        }
        return online;
    }

    /** {@code slot}'s link is online: it logged in (and registered), or joined the session. Control loop. */
    private void online(Slot slot, AgentSession link, List<Registration> names) {
        if (closing || slot.link == null) {
            return; // ended meanwhile: its end is on the way
        }
        boolean cameOnline = onlineLinks() == 0;
        slot.online = true;
        slot.backoff.reset();
        status.link(slot.number, AgentStatus.LinkState.ONLINE, link.linkNumber());
        if (loggingIn == slot) {
            loggingIn = null;
            registrations = names;
            session = link.session();
            sessionGateway = slot.target;
            if (session == null && config.links() > 1) {
                log.info("the gateway speaks protocol version {}: one link instead of {} (upgrade the gateway to"
                        + " use --links)", link.protocolVersion(), config.links());
            }
            for (Slot other : slots) {
                other.unused = session == null && other != slot; // a new session: a link refused before may join
                if (other.unused) {
                    status.link(other.number, AgentStatus.LinkState.UNUSED, 0);
                }
            }
        } else {
            log.info("link {} joined the session as link {}", slot.number, link.linkNumber());
        }
        if (cameOnline) {
            wasOnline = true;
            timesOnline++;
            status.online(registrations);
            for (Registration registration : registrations) {
                // port 0: the gateway serves the name on its ingress only, without a raw port
                String raw = registration.publicPort() == 0 ? null
                        : slot.target.gateway().host() + ":" + registration.publicPort();
                String urls = String.join(", ", registration.urls());
                String where = registration.urls().isEmpty() ? raw : raw == null ? urls : urls + " and " + raw;
                log.info("online: '{}' is reachable at {} -> {}", registration.name(), where,
                        backendOf(registration.name()));
            }
            firstOnline.complete(registrations);
        }
        if (session != null) {
            for (Slot other : slots) {
                connect(other); // the others join (those busy or unused are left alone)
            }
        }
    }

    private Object backendOf(String name) {
        return config.tunnels().stream().filter(t -> t.name().equals(name)).findFirst()
                .map(TunnelSpec::backend).orElse(null);
    }

    /**
     * {@code slot}'s link is over: stop if refused or closing, forget the session if the gateway has none, give
     * the link up if the gateway refused it, else open it again after its backoff. Control loop.
     */
    private void ended(Slot slot, Joining.Session joined, LinkEnd end) {
        slot.link = null;
        slot.busy = false;
        boolean wasLinkOnline = slot.online;
        slot.online = false;
        if (loggingIn == slot) {
            loggingIn = null;
        }
        if (wasLinkOnline && onlineLinks() == 0) {
            lostOnlineLinkAt = System.nanoTime();
        }
        if (closing) {
            stoppedIfIdle();
            return;
        }
        if (end.rejected()) {
            log.error("the gateway refused this agent: {}", end.reason());
            status.error(end.reason());
            status.state(AgentStatus.State.REFUSED);
            stop(end.reason(), new RejectedException(end.reason()));
            return;
        }
        boolean loginFailed = joined == null && !wasLinkOnline;
        boolean lostEveryLink = wasLinkOnline && onlineLinks() == 0;
        if ((loginFailed || lostEveryLink) && slot.target != null && slot.target.equals(gateways.current())
                && gateways.advance()) {
            // another gateway of the cluster: the session stays behind with the one left (its names follow the
            // agent there: the same agent takes them over)
            session = null;
            log.info("next gateway: {} ({} addresses to try)", gateways.current(), gateways.size());
        }
        if (end.join() == LinkEnd.Join.SESSION_GONE) {
            if (session == joined) {
                session = null; // the next link to open logs in again
            }
            log.info("link {}: {}; logging in again", slot.number, end.reason());
            if (onlineLinks() == 0) {
                connect(slot);
                return;
            }
        } else if (end.join() == LinkEnd.Join.REFUSED) {
            slot.unused = true;
            status.link(slot.number, AgentStatus.LinkState.UNUSED, 0);
            log.warn("link {} given up: {}", slot.number, end.reason());
            return;
        }
        long delay = slot.backoff.nextMillis();
        status.link(slot.number, AgentStatus.LinkState.RETRYING, 0);
        if (onlineLinks() == 0) {
            status.retrying(end.reason(), java.time.Duration.ofMillis(delay));
            log.warn("{}; reconnecting in {} s", end.reason(), String.format("%.1f", delay / 1000.0));
        } else {
            status.error(end.reason());
            log.warn("link {}: {}; opening it again in {} s ({} of {} links online)", slot.number, end.reason(),
                    String.format("%.1f", delay / 1000.0), onlineLinks(), slots.size());
        }
        slot.retry = control.schedule(() -> {
            slot.retry = null;
            connect(slot);
        }, delay, TimeUnit.MILLISECONDS);
    }

    /** Closing: the agent has stopped once no link is left. */
    private void stoppedIfIdle() {
        for (Slot slot : slots) {
            if (slot.busy) {
                return;
            }
        }
        stopped.complete("agent stopped");
    }

    private void stop(String reason, Throwable cause) {
        firstOnline.completeExceptionally(cause);
        stopped.complete(reason);
        for (Slot slot : slots) {
            Channel channel = slot.link;
            if (channel != null) {
                channel.close(); // refused: the other links go too
            }
            if (slot.retry != null) {
                slot.retry.cancel(false);
            }
            slot.unused = true;
        }
    }

    /**
     * Tells the gateway (Terminate on every link), closes the links and stops the event loops; waits for that unless
     * called on one of the agent's own threads (from one of its futures' callbacks).
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
        control.execute(() -> {
            List<CompletableFuture<Void>> closed = new ArrayList<>();
            for (Slot slot : slots) {
                if (slot.retry != null) {
                    slot.retry.cancel(false);
                }
                Channel channel = slot.link;
                if (channel == null) {
                    continue;
                }
                CompletableFuture<Void> linkClosed = new CompletableFuture<>();
                closed.add(linkClosed);
                channel.closeFuture().addListener(f -> linkClosed.complete(null));
                channel.eventLoop().execute(() -> {
                    if (channel.pipeline().get(HandlerNames.SESSION) instanceof AgentSession session) {
                        session.stop();
                    } else {
                        channel.close();
                    }
                });
            }
            CompletableFuture.allOf(closed.toArray(CompletableFuture[]::new))
                    .whenComplete((v, e) -> done.complete(null));
        });
        stopped.complete("agent stopped");
        firstOnline.completeExceptionally(new IOException("agent stopped"));
        for (io.netty.util.concurrent.EventExecutor loop : group) {
            if (loop.inEventLoop()) {
                // Not waiting here (this thread is one of the loops), but still after the links have closed: with
                // io_uring, a loop that stops while a link's close_notify is in flight would leave that write's
                // buffer unreleased.
                done.completeOnTimeout(null, 5, TimeUnit.SECONDS)
                        .whenComplete((v, e) -> group.shutdownGracefully(0, 1, TimeUnit.SECONDS));
                return;
            }
        }
        try {
            done.get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            log.debug("closing the links took too long: {}", e.toString());
        }
        EventLoops.stopProgramLoops(group);
    }
}
