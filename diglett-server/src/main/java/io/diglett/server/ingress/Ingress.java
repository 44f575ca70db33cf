package io.diglett.server.ingress;

import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.IngressSettings;
import io.diglett.server.config.PublicLimits;
import io.diglett.server.link.ClientConnections;
import io.diglett.server.link.LinkEvents;
import io.diglett.server.link.NameRegistry;
import io.diglett.server.link.ProxyHeaderGate;
import io.diglett.server.link.StreamTarget;
import io.diglett.server.link.Tunnel;
import io.diglett.server.tls.ChallengeAnswers;
import io.diglett.server.tls.GatewayTls;
import io.diglett.server.tls.IngressCertificates;

import io.diglett.common.HostPort;
import io.diglett.common.transport.Transport;
import io.diglett.protocol.Names;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Stream;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.ssl.SslContext;
import io.netty.util.AsciiString;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntConsumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's built-in ingress: {@code http://NAME.DOMAIN} (routed by the Host header) and
 * {@code https://NAME.DOMAIN} (routed by the TLS server name; terminated with the ingress certificate, or
 * passed through to a backend that terminates TLS itself). Connections are accepted on the gateway's worker
 * loops with auto-read off and carried by a stream of the named tunnel's agent link, like any public
 * connection. Each is first counted against its client address ({@link ClientConnections}): over the cap, HTTP
 * gets a 429 page and HTTPS is reset. Pipeline order: {@link HandlerNames}.
 */
public final class Ingress implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Ingress.class);

    public static final int MAX_INITIAL_LINE = 8192;
    public static final int MAX_HEADER_SIZE = 16384;
    static final AsciiString X_FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
    static final AsciiString X_FORWARDED_PROTO = AsciiString.cached("x-forwarded-proto");
    static final AsciiString X_FORWARDED_HOST = AsciiString.cached("x-forwarded-host");

    /** Where a Host or server name leads: the host as given (lower case, no port) and its live tunnel, if any. */
    record Route(String host, StreamTarget tunnel) {
    }

    private final IngressSettings settings;
    private final java.util.Set<String> clientIpHeaders;
    private final NameRegistry names;
    private final GatewayConfig config;
    private final IntConsumer answered;
    private final ClientConnections clients;
    private final Supplier<PublicLimits> limits;
    private final LinkEvents events;
    private IngressCertificates certificates;
    private volatile ChallengeAnswers challenges;
    private Channel httpListener;
    private Channel httpsListener;
    private volatile int httpPort;
    private volatile int httpsPort;

    /**
     * The ingress of {@code config} for the names in {@code names}; {@code answered} counts its own answers,
     * {@code clients} counts connections per client address, {@code limits} (read at each accept) caps them
     * and sets the idle timeouts, {@code events} hears of idle closes.
     */
    public Ingress(GatewayConfig config, NameRegistry names, IntConsumer answered, ClientConnections clients,
                   Supplier<PublicLimits> limits, LinkEvents events) {
        this.config = config;
        this.answered = answered;
        this.clients = clients;
        this.limits = limits;
        this.events = events;
        this.settings = config.ingress();
        this.names = names;
        this.clientIpHeaders = java.util.Set.copyOf(config.forwarding().clientIpHeaders());
    }

    String domain() {
        return settings.domain();
    }

    /** The client-address headers removed from requests and trailers beside Forwarded, X-Forwarded-*, X-Real-IP. */
    java.util.Set<String> clientIpHeaders() {
        return clientIpHeaders;
    }

    /** The certificates served on HTTPS, by server name; {@code null} without --https. */
    public IngressCertificates certificates() {
        return certificates;
    }

    /** Answers TLS-ALPN-01 challenges ({@code acme-tls/1}), or {@code null} without ACME. */
    ChallengeAnswers challenges() {
        return challenges;
    }

    /** Answers {@code acme-tls/1} handshakes on the HTTPS listener with {@code answers} (set before start). */
    public void answerChallenges(ChallengeAnswers answers) {
        this.challenges = answers;
    }

    /** Loads the certificate and binds the HTTP and HTTPS listeners that are configured. */
    public void start(EventLoopGroup acceptor, EventLoopGroup workers, Transport transport) throws Exception {
        if (settings.https() != null) {
            certificates = new IngressCertificates(loadContext());
            httpsListener = bind(acceptor, workers, transport, settings.https(), true);
            httpsPort = ((InetSocketAddress) httpsListener.localAddress()).getPort();
            log.info("serving https://NAME.{} on {}", settings.domain(), httpsListener.localAddress());
        }
        if (settings.http() != null) {
            httpListener = bind(acceptor, workers, transport, settings.http(), false);
            httpPort = ((InetSocketAddress) httpListener.localAddress()).getPort();
            log.info("serving http://NAME.{} on {}", settings.domain(), httpListener.localAddress());
        }
    }

    private Channel bind(EventLoopGroup acceptor, EventLoopGroup workers, Transport transport, HostPort at,
                         boolean https) throws InterruptedException {
        return transport.limitUnsentAccepted(new ServerBootstrap(), config.buffers().unsentPerSocket())
                .group(acceptor, workers)
                .channel(transport.serverChannel())
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, Stream.socketWaterMark(config.window()))
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ProxyHeaderGate.setUp(ch, config.forwarding(), config.limits().handshakeTimeout().toMillis(),
                                () -> accepted(ch, https));
                    }
                })
                .bind(at.host(), at.port()).sync().channel();
    }

    /** An ingress connection, its client known (from a PROXY header if it came through one): count it, route it. */
    private void accepted(Channel ch, boolean https) {
        if (!clients.admit(ch, https ? "https ingress" : "http ingress")) {
            if (https) {
                Stream.abort(ch); // a page would need the TLS handshake: not for a refused client
            } else {
                ch.pipeline().addLast(new RefusedConnection(IngressPages.tooManyConnections()));
            }
            return;
        }
        if (https) {
            ch.pipeline().addLast(HandlerNames.SNI, new TlsIngress(Ingress.this,
                    config.limits().handshakeTimeout().toMillis()));
        } else {
            ch.pipeline().addLast(HandlerNames.HTTP_DECODER, newRequestDecoder())
                    .addLast(HandlerNames.INGRESS, new HttpIngress(Ingress.this));
        }
    }

    HttpRequestDecoder newRequestDecoder() {
        return new HttpRequestDecoder(new HttpDecoderConfig()
                .setMaxInitialLineLength(MAX_INITIAL_LINE)
                .setMaxHeaderSize(MAX_HEADER_SIZE)
                .setMaxChunkSize(64 * 1024));
    }

    /** The ingress certificate: the operator's (for *.DOMAIN), or one generated and kept in the state dir. */
    private SslContext loadContext() throws Exception {
        Path cert = settings.httpsCert();
        Path key = settings.httpsKey();
        if (cert == null) {
            Path dir = config.tls().stateDir() != null ? config.tls().stateDir()
                    : io.diglett.server.config.TlsSettings.defaultStateDir();
            cert = dir.resolve("ingress-" + settings.domain() + ".crt");
            key = dir.resolve("ingress-" + settings.domain() + ".key");
            GatewayTls.generateIfMissing(cert, key, "*." + settings.domain(),
                    List.of("*." + settings.domain(), settings.domain()));
            log.warn("--https without --https-cert: serving the self-signed certificate {} for *.{}, which browsers"
                    + " will not trust; give a wildcard certificate with --https-cert/--https-key",
                    cert, settings.domain());
        } else {
            GatewayTls.warnIfOthersMayRead("--https-key", key);
        }
        return IngressCertificates.context(GatewayTls.readPrivateKey(key), GatewayTls.readCertificates(cert));
    }

    /**
     * Routes a Host header value or TLS server name: {@code NAME.DOMAIN} (any case, an optional port and
     * trailing dot) leads to the live tunnel called NAME; anything else to none.
     */
    Route route(String hostHeader) {
        String host = hostHeader.trim().toLowerCase(Locale.ROOT);
        if (host.startsWith("[")) {
            return new Route(host, null); // an IPv6 literal names no tunnel
        }
        int colon = host.indexOf(':');
        if (colon >= 0) {
            host = host.substring(0, colon);
        }
        if (host.endsWith(".")) {
            host = host.substring(0, host.length() - 1);
        }
        String suffix = "." + settings.domain();
        if (!host.endsWith(suffix)) {
            return new Route(host, null);
        }
        String name = host.substring(0, host.length() - suffix.length());
        if (name.indexOf('.') >= 0 || Names.problem(name) != null) {
            return new Route(host, null);
        }
        return new Route(host, names.target(name).orElse(null));
    }

    /** The URLs under which {@code tunnel} is served, HTTPS first; empty without an ingress. */
    public List<String> urls(Tunnel tunnel) {
        List<String> urls = new ArrayList<>(2);
        String host = tunnel.name() + "." + settings.domain();
        if (httpsListener != null) {
            urls.add("https://" + host + (httpsPort == 443 ? "" : ":" + httpsPort));
        }
        if (httpListener != null && !tunnel.tlsPassthrough()) {
            urls.add("http://" + host + (httpPort == 80 ? "" : ":" + httpPort));
        }
        return urls;
    }

    /** A 308 to the HTTPS listener for a name that serves only HTTPS (passthrough), or a 404 without one. */
    ByteBuf httpsRedirect(String host, String uri) {
        if (httpsListener == null) {
            return IngressPages.notFound(host, settings.domain());
        }
        String path = uri.startsWith("/") ? uri : "/";
        return IngressPages.toHttps("https://" + host + (httpsPort == 443 ? "" : ":" + httpsPort) + path);
    }

    /** The public limits in force: idle timeouts for connections routed from now on. */
    PublicLimits limits() {
        return limits.get();
    }

    /** Where idle closes are reported. */
    LinkEvents events() {
        return events;
    }

    /** The gateway answered an ingress request itself with {@code status}. */
    void answered(int status) {
        answered.accept(status);
    }

    public int httpPort() {
        return httpPort;
    }

    public int httpsPort() {
        return httpsPort;
    }

    @Override
    public void close() {
        for (Channel listener : new Channel[] {httpListener, httpsListener}) {
            if (listener != null) {
                listener.close().syncUninterruptibly();
            }
        }
    }
}
