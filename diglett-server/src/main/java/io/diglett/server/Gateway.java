package io.diglett.server;

import io.diglett.common.HostPort;
import io.diglett.common.Version;
import io.diglett.common.transport.EventLoops;
import io.diglett.common.transport.Fingerprint;
import io.diglett.common.transport.TcpMemory;
import io.diglett.common.transport.Transport;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.common.transport.Tls;
import io.diglett.protocol.mux.LinkPipeline;
import io.diglett.protocol.mux.FlowLimits;
import io.diglett.server.acme.AcmeManager;
import io.diglett.server.acme.AcmeStore;
import io.diglett.server.acme.CertificateStatus;
import io.diglett.server.acme.FileAcmeStore;
import io.diglett.server.admin.GatewayAdmin;
import io.diglett.server.admin.GatewayMetrics;
import io.diglett.server.auth.Authenticator;
import io.diglett.server.cluster.ClusterView;
import io.diglett.server.cluster.EtcdNameRegistry;
import io.diglett.server.config.AcmeSettings;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.PreLoginLimits;
import io.diglett.server.config.PublicLimits;
import io.diglett.server.config.ReservedNames;
import io.diglett.server.ingress.Ingress;
import io.diglett.server.link.ClientConnections;
import io.diglett.server.link.GatewaySession;
import io.diglett.server.link.LinkGroup;
import io.diglett.server.link.LinkGroups;
import io.diglett.server.link.LinkAdmission;
import io.diglett.server.link.LinkServices;
import io.diglett.server.link.LocalNameRegistry;
import io.diglett.server.link.NameRegistry;
import io.diglett.server.link.PreLoginGuard;
import io.diglett.server.link.PortReservations;
import io.diglett.server.link.PublicListeners;
import io.diglett.server.link.Registrations;
import io.diglett.server.link.TlsDetector;
import io.diglett.server.link.Tunnel;
import io.diglett.server.registrar.Registrar;
import io.diglett.server.tls.GatewayTls;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway: accepts agent links and, for each name an agent registers, a public listener whose connections
 * are carried to that agent. Each link, its listeners and their connections live on one event loop. This class
 * wires the parts together (docs/architecture.md has the map): the link sessions and the life of a name
 * ({@code link}), the ingress, the authenticator, the registrar, the admin endpoint.
 */
public final class Gateway implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Gateway.class);

    /** Link write buffer: streams pause reading above the high mark, resume below the low one. */
    static final WriteBufferWaterMark LINK_WATER_MARK = new WriteBufferWaterMark(512 * 1024, 1024 * 1024);
    /** How long a new registrar may take to expose the live names on a reload. */
    private static final Duration REGISTRAR_MOVE_TIMEOUT = Duration.ofSeconds(30);

    /** Limits are replaced by a reload (SIGHUP). */
    private volatile GatewayConfig config;
    private final NameRegistry names;
    private final Registrations registrations;
    private final LinkServices linkServices;
    /** The agents' sessions (the links of each). */
    private final LinkGroups groups = new LinkGroups();
    /** What public clients may hold (per-address cap, idle timeouts); replaced by a reload (SIGHUP). */
    private volatile PublicLimits publicLimits = PublicLimits.defaults();
    /** Binds the names' public ports. */
    private PublicListeners publicListeners;
    /** Public connections open per client address, over every name's port and the ingress. */
    private final ClientConnections clients;
    private final Transport transport = Transport.best();
    private final EventLoopGroup acceptor;
    private final EventLoopGroup workers;
    private final ChannelGroup links = new DefaultChannelGroup("agent-links", GlobalEventExecutor.INSTANCE);
    /** The sessions of links whose names are not released yet (their close futures); any thread. */
    private final java.util.Set<Future<Void>> releasing = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final Clock clock = Clock.systemUTC();
    /** Ports of names whose link dropped, kept for their token and name for the port grace. */
    private final PortReservations portReservations = new PortReservations(clock, PortReservations.DEFAULT_GRACE);
    private Channel server;
    private GatewayTls tls;
    /** The HTTP/HTTPS ingress for NAME.DOMAIN, or {@code null} without --http / --https. */
    private Ingress ingress;
    /** Certificates from ACME (--acme), or {@code null}. */
    private AcmeSettings acmeSettings;
    private AcmeManager acme;
    /** The admin endpoint, or {@code null} without --admin. */
    private GatewayAdmin admin;
    /** Connections before Login and logged-in agents, counted atomically (links live on several event loops). */
    private final LinkAdmission admission;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final GatewayMetrics metrics;
    /** Tells the buffer budget when the kernel's socket memory is short. */
    private final TcpMemory tcpMemory;

    public Gateway(GatewayConfig config, Authenticator authenticator, Registrar registrar) {
        this(config, authenticator, registrar, new LocalNameRegistry());
    }

    /** A gateway whose names live in {@code names}. */
    public Gateway(GatewayConfig config, Authenticator authenticator, Registrar registrar, NameRegistry names) {
        this.config = config;
        this.names = names;
        this.metrics = new GatewayMetrics(names::live, this::agents);
        if (names instanceof ClusterView cluster) {
            metrics.watchCluster(cluster);
        }
        this.admission = new LinkAdmission(this::config, metrics, System::nanoTime);
        metrics.watchPendingLogins(admission::pending);
        this.clients = new ClientConnections(() -> publicLimits.maxConnectionsPerIp(), metrics);
        metrics.watchClients(clients::sources, clients::busiest);
        this.registrations = new Registrations(names, authenticator, registrar,
                publicListeners = new PublicListeners(transport, this::config, portReservations, clients, this::publicLimits,
                        metrics, names),
                metrics, clock);
        FlowLimits flow = config.buffers().flowLimits();
        metrics.watch(flow.budget());
        this.tcpMemory = new TcpMemory(flow.budget());
        this.linkServices = new LinkServices(this::config, registrations, metrics, this::urls, System::nanoTime, flow,
                groups);
        metrics.watchLinks(() -> {
            int links = 0;
            for (LinkGroup group : groups.all()) {
                links += group.links().size();
            }
            return links;
        });
        this.acceptor = transport.newGroup(1, "diglett-accept");
        this.workers = transport.newGroup(0, "diglett-io");
    }

    public Gateway(GatewayConfig config) {
        this(config, Authenticator.open(), Registrar.log());
    }

    /** The settings in force. */
    public GatewayConfig config() {
        return config;
    }

    public Authenticator authenticator() {
        return registrations.authenticator();
    }

    public Registrar registrar() {
        return registrations.registrar();
    }

    /** The names and the steps of their life (tests drive sessions through it). */
    public Registrations registrations() {
        return registrations;
    }

    /**
     * How long the port of a name whose link dropped stays reserved for its token and name (default
     * {@link PortReservations#DEFAULT_GRACE}); zero disables it.
     */
    public void usePortGrace(Duration grace) {
        portReservations.grace(grace);
    }

    /**
     * Obtains the HTTPS ingress's certificates (and with a link name the agent link's) from ACME with
     * {@code settings}; before {@link #start}.
     */
    public void useAcme(AcmeSettings settings) {
        if (settings != null && config.ingress().https() == null) {
            throw new IllegalArgumentException("--acme needs --https and --domain: certificates are for"
                    + " https://NAME.DOMAIN, and TLS-ALPN-01 validations arrive on the HTTPS listener");
        }
        if (settings != null && settings.linkName() != null && config.tls().plaintext()) {
            throw new IllegalArgumentException("--acme-link-name needs TLS on the agent link (not --plaintext)");
        }
        this.acmeSettings = settings;
    }

    /** New ACME settings (a reload); ACME cannot be turned on or off while running. */
    public void updateAcme(AcmeSettings settings) {
        if ((settings == null) != (acme == null)) {
            throw new IllegalArgumentException("--acme is turned " + (settings == null ? "off" : "on")
                    + " only by a restart");
        }
        if (acme != null) {
            acme.update(settings);
        }
    }

    /** The ACME manager, or {@code null} without --acme. */
    public AcmeManager acme() {
        return acme;
    }

    /** Refuses the names in {@code names} to every agent ({@code --reserved-names}; default {@link ReservedNames#defaults()}). */
    public void useReservedNames(ReservedNames names) {
        registrations.reserve(names);
    }

    /** What every agent link session of this gateway is built with. */
    public LinkServices linkServices() {
        return linkServices;
    }

    public GatewayMetrics metrics() {
        return metrics;
    }

    /** The registry behind {@code /metrics}. */
    public io.prometheus.metrics.model.registry.PrometheusRegistry metricsRegistry() {
        return metrics.registry();
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
        if (authenticator().admitsEveryone()) {
            log.warn("no --auth-file: any agent may register any name; see docs/security.md");
        }
        authenticator().onChange(this::reauthorizeAll);
        // what an earlier run exposed and never withdrew (it was killed) goes before any name can register
        registrar().reconcile(Set.of());
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
        if (config.ingress().enabled()) {
            ingress = new Ingress(config, names, metrics::ingressAnswered, clients, this::publicLimits, metrics);
            ingress.start(acceptor, workers, transport);
            if (acmeSettings != null) {
                startAcme();
            }
        }
        server = bootstrap.bind(config.listen().host(), config.listen().port()).sync().channel();
        InetSocketAddress address = (InetSocketAddress) server.localAddress();
        if (names instanceof EtcdNameRegistry cluster) {
            cluster.onPartitioned(this::sendAgentsAway);
            // joined before any agent is served: a node whose certificate is not the cluster's does not start
            cluster.join(tls == null ? "plaintext" : tls.fingerprint().toString(),
                    new HostPort(config.listen().host(), address.getPort()).toString(), transport, acceptor, workers,
                    publicListeners, config.window(), linkServices.flow(), config.limits().maxStreamsPerAgent());
        }
        if (acme != null) {
            acme.start();
        }
        log.info("{} listening for agents on {} ({}, {}, public listeners on {}{})",
                Version.describe("diglett-server"), new HostPort(config.listen().host(), address.getPort()),
                transport.label(), tls == null ? "PLAINTEXT, no TLS"
                        : "TLS 1.3 via " + Tls.describe() + " " + tls.fingerprint(),
                config.publicBind(), config.portRange() == null ? "" : " ports " + config.portRange());
        Transport.askedButUnavailable().ifPresent(log::warn);
        warnAboutMemory();
        tcpMemory.onChange(memoryShort -> links.forEach(link -> Transport.shortOfMemory(link, memoryShort)));
        tcpMemory.start(workers.next());
        if (tls == null) {
            log.warn("--plaintext: the agent link is neither encrypted nor authenticated; use it only on a"
                    + " network you trust");
        }
        return address;
    }

    /**
     * ACME certificates for the ingress: set up before any agent can register a name, started (its first orders)
     * once the node has joined its cluster.
     */
    private void startAcme() {
        AcmeStore store = names instanceof EtcdNameRegistry cluster ? cluster.acmeStore()
                : new FileAcmeStore(acmeSettings.stateDir());
        acme = new AcmeManager(acmeSettings, config.ingress().domain(), store, ingress.certificates(), tls,
                this::holds, clock);
        ingress.answerChallenges(acme);
        registrations.watch(new Registrations.LiveNames() {
            @Override
            public void live(String name, String principal) {
                Tunnel tunnel = names.lookup(name).orElse(null);
                if (tunnel != null && !tunnel.tlsPassthrough()) { // a passthrough backend has its own certificate
                    acme.nameLive(name, tokenId(tunnel));
                }
            }

            @Override
            public void gone(String name) {
                acme.nameGone(name);
            }
        });
        metrics.watchAcme(acme);
        acme.serveStored();
        // the agent's status shows its name's certificate (protocol version 6)
        acme.watch((name, status) -> names.lookup(name).filter(Tunnel::live)
                .ifPresent(tunnel -> tunnel.noticeCertificate(status.describe())));
    }

    /** Whether {@code name} is live here for the token {@code token} ({@link #tokenId}), and still allowed to it. */
    private boolean holds(String name, String token) {
        Tunnel tunnel = names.lookup(name).filter(Tunnel::live).orElse(null);
        return tunnel != null && tunnel.exposure() != null && tokenId(tunnel).equals(token)
                && registrations.mayHold(tunnel.exposure().principal(), name);
    }

    /**
     * Who holds {@code tunnel}, for the ACME budgets: the first 8 bytes of its token's SHA-256, the same on every
     * start and every node (the token itself is never written).
     */
    private static String tokenId(Tunnel tunnel) {
        byte[] digest = tunnel.ownerTokenDigest();
        return digest == null ? "-" : java.util.HexFormat.of().formatHex(digest, 0, 8);
    }

    /**
     * Says what bounds the memory streams may hold, and warns when the limits promise more than the JVM has: a
     * buffer budget beyond its direct memory, or one agent's streams at full windows (bounded by the per-agent
     * share) beyond it.
     */
    private void warnAboutMemory() {
        long direct = io.netty.util.internal.PlatformDependent.maxDirectMemory();
        var buffers = config.buffers();
        long perAgentAtFullWindows = (long) config.maxStreamsPerAgent() * config.window();
        log.info("streams: up to {} per agent, window {} bytes; buffer budget {} bytes ({} per agent, {} per client"
                        + " address), stall timeout {} s, kernel queue {} bytes per public socket; JVM direct memory {}"
                        + " bytes", config.maxStreamsPerAgent(), config.window(), buffers.total(), buffers.perLink(),
                buffers.perClient(), buffers.stallTimeout().toSeconds(), buffers.unsentPerSocket(), direct);
        if (direct > 0 && buffers.total() > direct) {
            log.warn("--buffer-budget {} exceeds the JVM's direct memory ({} bytes): streams could exhaust it before"
                    + " the budget sheds them; lower the budget or raise -XX:MaxDirectMemorySize",
                    buffers.total(), direct);
        }
        long perAgent = Math.min(perAgentAtFullWindows, buffers.perLink());
        if (direct > 0 && perAgent > direct) {
            log.warn("one agent's streams may hold {} bytes (--max-streams-per-agent {} x --window {}, at most"
                            + " --buffer-budget-per-agent {}), more than the JVM's direct memory ({} bytes): lower"
                            + " them or raise -XX:MaxDirectMemorySize", perAgent, config.maxStreamsPerAgent(),
                    config.window(), buffers.perLink(), direct);
        }
    }

    /**
     * A new connection on the agent port. Until it logs in it is pending: held to the pending limits and
     * deadlines by its {@link PreLoginGuard}; only at Login does it count against --max-agents.
     */
    private void initLink(Channel ch) {
        PreLoginGuard guard = admission.admit(ch);
        if (guard == null) {
            ch.close();
            return;
        }
        ch.pipeline().addLast(PreLoginGuard.NAME, guard);
        links.add(ch);
        Transport.shortOfMemory(ch, linkServices.flow().budget().systemPressure());
        GatewaySession session = new GatewaySession(linkServices);
        releasing.add(session.closeFuture());
        session.closeFuture().addListener(released -> releasing.remove(session.closeFuture()));
        LinkPipeline.assemble(ch.pipeline(), HandlerNames.TLS_DETECT,
                tls == null ? null : new TlsDetector(tls.context()), session);
        log.debug("agent connected from {}", ch.remoteAddress());
    }

    /** New limits: links, registrations, streams and handshakes from now on are held to them. */
    public synchronized void updateLimits(GatewayConfig.Limits limits) {
        config = config.withLimits(limits);
    }

    /** New pre-login limits: connections accepted from now on are held to them. */
    public synchronized void updatePreLogin(PreLoginLimits preLogin) {
        config = config.withPreLogin(preLogin);
    }

    /** Puts {@code next} in place (every live tunnel is authorized again) and returns the previous one, to close. */
    public synchronized Authenticator replaceAuthenticator(Authenticator next) {
        next.onChange(this::reauthorizeAll);
        Authenticator previous = registrations.replaceAuthenticator(next);
        reauthorizeAll();
        return previous;
    }

    /**
     * Moves the live names to {@code next} and puts it in place, closing the old one; {@code sameKind}: both
     * write to the same place. Keeps the old one, and throws, when {@code next} fails to expose a name.
     *
     * @return how many live names were moved
     */
    public int replaceRegistrar(Registrar next, boolean sameKind) throws InterruptedException {
        return registrations.moveTo(next, sameKind, REGISTRAR_MOVE_TIMEOUT);
    }

    /** The authenticator's decisions changed: every session checks its names again, on its own loop. */
    private void reauthorizeAll() {
        for (LinkGroup group : groups.all()) {
            group.reauthorize();
        }
    }

    /**
     * Tells every agent to go (Terminate with {@code reason}): each link closes once its streams are done, and the
     * agent dials its next gateway. The gateway itself keeps running.
     */
    private void sendAgentsAway(String reason) {
        for (Channel link : links) {
            if (link.pipeline().get(HandlerNames.SESSION) instanceof GatewaySession session) {
                link.eventLoop().execute(() -> session.drain(reason));
            }
        }
    }

    /** What this node knows of its cluster, or {@code null} for a single gateway. */
    public ClusterView cluster() {
        return names instanceof ClusterView view ? view : null;
    }

    /** The fingerprint of the gateway's TLS certificate, or {@code null} with --plaintext. */
    public Fingerprint fingerprint() {
        return tls == null ? null : tls.fingerprint();
    }

    /** The public port of {@code name}, if an agent holds it. */
    public OptionalInt publicPort(String name) {
        Tunnel tunnel = names.lookup(name).orElse(null);
        return tunnel == null || tunnel.port() == 0 ? OptionalInt.empty() : OptionalInt.of(tunnel.port());
    }

    /**
     * Starts the admin endpoint ({@code /metrics}, {@code /api/tunnels}, the dashboard) on {@code at};
     * {@code token}, if not null, is required as a bearer token. Returns the bound address.
     */
    public InetSocketAddress startAdmin(HostPort at, String token) throws InterruptedException {
        return startAdmin(at, token, List.of());
    }

    /** {@link #startAdmin(HostPort, String)}, also answering the Host names {@code hosts} ({@code --admin-host}). */
    public InetSocketAddress startAdmin(HostPort at, String token, List<String> hosts) throws InterruptedException {
        admin = new GatewayAdmin(metrics, names, this::urls, new GatewayAdmin.Facts() {
            @Override
            public Fingerprint fingerprint() {
                return Gateway.this.fingerprint();
            }

            @Override
            public String domain() {
                return config.ingress().domain();
            }

            @Override
            public int agents() {
                return Gateway.this.agents();
            }

            @Override
            public ClusterView cluster() {
                return Gateway.this.cluster();
            }

            @Override
            public CertificateStatus certificate(String name) {
                return acme == null ? null : acme.status(name);
            }
        }, clock, token, hosts);
        return admin.start(at);
    }

    /** The public URLs of {@code tunnel} on the ingress (sent to its agent); empty without one. */
    private List<String> urls(Tunnel tunnel) {
        Ingress running = ingress;
        return running == null ? List.of() : running.urls(tunnel);
    }

    /** What public clients may hold: connections per address, idle timeouts. */
    public PublicLimits publicLimits() {
        return publicLimits;
    }

    /**
     * New public limits, also while running: the per-address cap holds for connections accepted from now on
     * (open ones stay), the idle timeouts for connections accepted (ingress: routed) from now on.
     */
    public void updatePublicLimits(PublicLimits limits) {
        publicLimits = limits;
    }

    /** Public connections open per client address. */
    public ClientConnections clients() {
        return clients;
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

    /** Agents logged in right now (connections that have not logged in yet are {@link #pendingLogins}). */
    public int agents() {
        return admission == null ? 0 : admission.agents();
    }

    /** Connections on the agent port that have not logged in yet. */
    public int pendingLogins() {
        return admission.pending();
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
        tcpMemory.stop();
        if (server != null) {
            server.close().syncUninterruptibly();
        }
        if (ingress != null) {
            ingress.close();
        }
        if (acme != null) {
            acme.close();
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
        // A link closed just now (by the drain, or by its agent before the gateway began stopping) asks the
        // registrar to withdraw its names from its event loop, after the close: wait for that (bounded) so that
        // the registrar, closed next, runs those unregisters before it stops.
        long released = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        drained.addAll(releasing);
        for (Future<Void> future : drained) {
            future.awaitUninterruptibly(Math.max(0, released - System.nanoTime()), TimeUnit.NANOSECONDS);
        }
        authenticator().close();
        registrar().close();
        names.close();
        acceptor.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        EventLoops.stopProgramLoops(workers);
    }
}
