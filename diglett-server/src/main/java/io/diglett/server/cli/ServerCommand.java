package io.diglett.server.cli;

import io.diglett.server.Gateway;
import io.diglett.server.auth.Authenticator;
import io.diglett.server.auth.AuthenticatorProvider;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.ForwardingSettings;
import io.diglett.server.config.IngressSettings;
import io.diglett.server.config.PortRange;
import io.diglett.server.config.ReservedNames;
import io.diglett.server.config.PreLoginLimits;
import io.diglett.server.config.PublicLimits;
import io.diglett.server.config.TlsSettings;
import io.diglett.server.registrar.Registrar;
import io.diglett.server.registrar.RegistrarProvider;

import io.diglett.common.Directories;
import io.diglett.common.HostPort;
import io.diglett.common.cli.BufferOptions;
import io.diglett.common.cli.ClassDataSharing;
import io.diglett.common.cli.CommandLines;
import io.diglett.common.cli.ConfigDefaults;
import io.diglett.common.cli.Converters;
import io.diglett.common.cli.ConfigOption;
import io.diglett.common.cli.DebugOption;
import io.diglett.common.cli.HeartbeatOption;
import io.diglett.common.cli.PlaintextOption;
import io.diglett.common.cli.ShutdownHook;
import io.diglett.common.cli.VersionProvider;
import io.diglett.common.cli.WindowOption;
import io.diglett.common.logging.Logging;
import io.diglett.common.transport.BufferSettings;
import io.diglett.protocol.Reasons;
import io.diglett.server.config.GatewayConfig.Limits;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/** {@code diglett-server}: the gateway's command line. */
@Command(name = "diglett-server", mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class, sortOptions = false, usageHelpAutoWidth = true,
        synopsisSubcommandLabel = "",
        description = "The Diglett gateway: agents dial in and register names; for each name it opens a public "
                + "port whose connections are carried to that agent's backend. SIGHUP re-reads the --config file "
                + "and the --auth-file.",
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:stopped by SIGTERM or Ctrl-C, after draining open connections",
            "1:could not start (the listen address is taken, the certificate or token file cannot be read)",
                "2:wrong arguments"})
public final class ServerCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-l", "--listen"}, paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:20000",
            converter = Converters.LinkAddress.class, description = "Where agents dial in (default: ${DEFAULT-VALUE}).")
    HostPort listen;

    @CommandLine.Mixin
    DebugOption debug = new DebugOption();

    @Option(names = "--bind", paramLabel = "ADDRESS", defaultValue = "0.0.0.0",
            description = "Address the public per-name listeners bind to (default: ${DEFAULT-VALUE}).")
    String bind;

    @Option(names = "--port-range", paramLabel = "LOW-HIGH", converter = PortRangeConverter.class,
            description = "Ports for public listeners (default: any free port the system assigns).")
    PortRange portRange;

    @Option(names = "--port-grace", paramLabel = "SECONDS", defaultValue = "300",
            description = "How long the public port of a name whose agent disconnected stays reserved for the same "
                    + "token and name, so that a reconnecting agent gets it back; 0 disables (default: "
                    + "${DEFAULT-VALUE}).")
    double portGrace;

    @Option(names = "--reserved-names", paramLabel = "NAME,...", defaultValue = ReservedNames.DEFAULT,
            converter = ReservedNamesConverter.class,
            description = "Names no agent may register, whatever its token allows (hosts you serve yourself under "
                    + "the domain); empty for none (default: ${DEFAULT-VALUE}).")
    ReservedNames reservedNames;

    @CommandLine.Mixin
    WindowOption window = new WindowOption();

    @Option(names = "--domain", paramLabel = "DOMAIN",
            description = "Serve each name as NAME.DOMAIN on --http / --https (DNS: a wildcard record *.DOMAIN "
                    + "pointing here); also the default domain of the caddy and traefik registrars.")
    String domain;

    @Option(names = "--http", paramLabel = "HOST[:PORT]", converter = HttpConverter.class,
            description = "Serve http://NAME.DOMAIN here, routed by the Host header (e.g. 0.0.0.0:80).")
    HostPort http;

    @Option(names = "--https", paramLabel = "HOST[:PORT]", converter = HttpsConverter.class,
            description = "Serve https://NAME.DOMAIN here, routed by the TLS server name: terminated with "
                    + "--https-cert, or passed through to agents that ask for it (e.g. 0.0.0.0:443).")
    HostPort https;

    @Option(names = "--https-cert", paramLabel = "FILE",
            description = "PEM certificate chain for *.DOMAIN (default: a self-signed one in --state-dir).")
    Path httpsCert;

    @Option(names = "--https-key", paramLabel = "FILE", description = "PEM private key of --https-cert.")
    Path httpsKey;

    @Option(names = "--client-ip-header", paramLabel = "NAME", split = ConfigDefaults.SPLIT, hideParamSyntax = true,
            description = "Another request header that names the client's address, which the ingress removes from "
                    + "requests and their trailers, beside the default list (True-Client-IP, X-Client-IP, Client-IP, "
                    + "CF-Connecting-IP, Fastly-Client-IP, X-Cluster-Client-IP, X-Original-Forwarded-For, "
                    + "X-ProxyUser-Ip, Forwarded-For, X-Originating-IP, X-Remote-IP, X-Remote-Addr, "
                    + "X-AppEngine-User-IP, CF-Pseudo-IPv4). Repeat it for several; 'none' leaves the default list "
                    + "out (the names given still count). Forwarded, X-Forwarded, X-Forwarded-* and X-Real-IP are "
                    + "always removed: the gateway sets X-Forwarded-* itself.")
    List<String> clientIpHeaders;

    @Option(names = "--accept-proxy-from", paramLabel = "CIDR", split = ConfigDefaults.SPLIT, hideParamSyntax = true,
            description = "Connections from these addresses (an L4 load balancer in front, e.g. 10.0.0.0/8) to the "
                    + "names' ports and the ingress must start with a PROXY protocol header (v1 or v2), whose client "
                    + "address the gateway then uses (X-Forwarded-For, the agent's PROXY header, per-address limits). "
                    + "Repeat it for several. Connections from elsewhere are taken as they are.")
    List<String> acceptProxyFrom;

    @CommandLine.Mixin
    io.diglett.admin.AdminOptions admin = new io.diglett.admin.AdminOptions();

    @Option(names = "--tls-cert", paramLabel = "FILE",
            description = "PEM certificate chain for the agent link (e.g. Let's Encrypt's fullchain.pem).")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE", description = "PEM private key of --tls-cert.")
    Path tlsKey;

    @Option(names = "--state-dir", paramLabel = "DIR",
            description = "Where a generated key and self-signed certificate are kept when --tls-cert is not given "
                    + "(default: $XDG_STATE_HOME/diglett or ~/.local/state/diglett).")
    Path stateDir;

    @CommandLine.Mixin
    PlaintextOption plaintext = new PlaintextOption();

    @Option(names = "--auth-file", paramLabel = "FILE",
            description = "Tokens and the names each may register, one per line; re-read when it changes. "
                    + "Without it any agent may register any name.")
    Path authFile;

    @Option(names = "--auth", paramLabel = "NAME",
            description = "Authenticator to use, from the class path (built in: open, file; default: file with "
                    + "--auth-file, else open).")
    String auth;

    @Option(names = "--auth-option", paramLabel = "KEY=VALUE", split = ConfigDefaults.SPLIT,
            hideParamSyntax = true, description = "Option for the --auth authenticator.")
    Map<String, String> authOptions = new LinkedHashMap<>();

    @Option(names = "--registrar", paramLabel = "NAME", defaultValue = "log",
            description = "How registered names are exposed, from the class path (built in: log, the seed's "
                    + "behaviour; exec, runs --registrar-option command=... with NAME, PORT, ACTION set; traefik, "
                    + "writes a file per name into --registrar-option dir=... for domain=...; caddy, adds a route per "
                    + "name through Caddy's admin API, admin=... and domain=...; domain defaults to --domain). "
                    + "Default: "
                    + "${DEFAULT-VALUE}.")
    String registrarName;

    @Option(names = "--registrar-option", paramLabel = "KEY=VALUE", split = ConfigDefaults.SPLIT,
            hideParamSyntax = true, description = "Option for the registrar.")
    Map<String, String> registrarOptions = new LinkedHashMap<>();

    @Option(names = "--max-agents", paramLabel = "N", defaultValue = "" + Limits.DEFAULT_MAX_AGENTS,
            description = "Agents logged in at once; a further login is told to try again later "
                    + "(default: ${DEFAULT-VALUE}).")
    int maxAgents;

    @Option(names = "--max-names-per-agent", paramLabel = "N", defaultValue = "" + Limits.DEFAULT_MAX_NAMES,
            description = "Names one agent may register (default: ${DEFAULT-VALUE}).")
    int maxNames;

    @Option(names = "--max-streams-per-agent", paramLabel = "N", defaultValue = "auto",
            converter = Converters.CountOrAuto.class,
            description = "Public connections open at once through one agent (default: ${DEFAULT-VALUE}: the buffer"
                    + " budget / 4 KiB, between 1,024 and 65,536; " + Limits.DEFAULT_MAX_STREAMS
                    + " with the default budget).")
    int maxStreams;

    @Option(names = "--max-links-per-agent", paramLabel = "N", defaultValue = "" + Limits.DEFAULT_MAX_LINKS,
            description = "Links one agent may keep in its session, the one it logged in on included (its --links);"
                    + " a further link is refused (default: ${DEFAULT-VALUE}).")
    int maxLinks;

    @CommandLine.Mixin
    BufferOptions buffers = new BufferOptions();

    @Option(names = "--buffer-budget-per-agent", paramLabel = "BYTES", defaultValue = "auto",
            converter = Converters.SizeOrAuto.class,
            description = "Of the buffer budget, what the streams of one agent may hold (default: ${DEFAULT-VALUE},"
                    + " half of it).")
    long budgetPerAgent;

    @Option(names = "--buffer-budget-per-client", paramLabel = "BYTES", defaultValue = "auto",
            converter = Converters.SizeOrAuto.class,
            description = "Of the buffer budget, what the streams of one client address may hold (default:"
                    + " ${DEFAULT-VALUE}, a quarter of it).")
    long budgetPerClient;

    @Option(names = "--handshake-timeout", paramLabel = "SECONDS", defaultValue = "10",
            description = "Time an agent has to finish TLS, login and registration (default: ${DEFAULT-VALUE}).")
    double handshakeTimeout;

    @Option(names = "--max-pending-logins", paramLabel = "N",
            defaultValue = "" + PreLoginLimits.DEFAULT_MAX_PENDING_LOGINS,
            description = "Connections on the agent port that have not logged in yet, at once; when full, a new "
                    + "connection takes the place of the oldest that has sent nothing (else the oldest) "
                    + "(default: ${DEFAULT-VALUE}).")
    int maxPendingLogins;

    @Option(names = "--max-pending-logins-per-ip", paramLabel = "N",
            defaultValue = "" + PreLoginLimits.DEFAULT_MAX_PENDING_LOGINS_PER_IP,
            description = "Of those, from one address (IPv6: one /64) (default: ${DEFAULT-VALUE}).")
    int maxPendingLoginsPerIp;

    @Option(names = "--first-byte-timeout", paramLabel = "SECONDS", defaultValue = "3",
            description = "Time a new connection on the agent port has to send its first byte "
                    + "(default: ${DEFAULT-VALUE}).")
    double firstByteTimeout;

    @Option(names = "--login-timeout", paramLabel = "SECONDS", defaultValue = "5",
            description = "Time a new connection on the agent port has to finish TLS and log in; registration "
                    + "then has the rest of --handshake-timeout (default: ${DEFAULT-VALUE}).")
    double loginTimeout;

    @CommandLine.Mixin
    HeartbeatOption heartbeat = new HeartbeatOption();

    @Option(names = "--drain-timeout", paramLabel = "SECONDS", defaultValue = "10",
            description = "On SIGTERM, how long open connections may take to finish (default: ${DEFAULT-VALUE}).")
    double drainTimeout;

    @Option(names = "--max-connections-per-ip", paramLabel = "N",
            defaultValue = "" + PublicLimits.DEFAULT_MAX_CONNECTIONS_PER_IP,
            description = "Public connections (name ports and ingress together) open at once from one client "
                    + "address, IPv6 by /64; further ones are refused (HTTP: 429). 0: no limit "
                    + "(default: ${DEFAULT-VALUE}).")
    int maxConnectionsPerIp;

    @Option(names = "--ingress-idle-timeout", paramLabel = "SECONDS", defaultValue = "60",
            description = "Close an ingress HTTP connection with no request in progress and no traffic for this "
                    + "long. 0: never (default: ${DEFAULT-VALUE}).")
    double ingressIdleTimeout;

    @Option(names = "--tcp-idle-timeout", paramLabel = "SECONDS", defaultValue = "0",
            description = "Reset a connection on a name's port (or a TLS passthrough) with no traffic either way "
                    + "for this long. 0: never (default).")
    double tcpIdleTimeout;

    @Option(names = "--allow-private-identity-providers",
            description = "Let visitor policies name identity providers (oidc-issuer, jwt-jwks) at loopback or "
                    + "private addresses: on the gateway's own host or network. Off by default, so that an agent "
                    + "cannot make the gateway call services only the gateway can reach.")
    boolean allowPrivateIdentityProviders;

    @CommandLine.Mixin
    ClusterOptions cluster = new ClusterOptions();

    @CommandLine.Mixin
    AcmeOptions acme = new AcmeOptions();

    @CommandLine.Mixin
    ConfigOption config = new ConfigOption();

    public static void main(String[] args) {
        CommandLines.run(ServerCommand::new, args);
    }

    @Override
    public Integer call() throws InterruptedException {
        Logging.configure(debug.verbosity());
        Logger log = LoggerFactory.getLogger(ServerCommand.class);
        ConfigDefaults defaults = ConfigDefaults.of(spec);
        io.diglett.server.visitor.IdentityCalls.allowPrivateProviders(allowPrivateIdentityProviders);
        if (defaults != null && defaults.file() != null) {
            log.info("options from config file {}", defaults.file());
            defaults.warnings().forEach(log::warn);
        }
        GatewayConfig config;
        PublicLimits publicLimits;
        io.diglett.server.config.ClusterSettings clusterSettings;
        io.diglett.server.config.AcmeSettings acmeSettings;
        try {
            config = gatewayConfig();
            acmeSettings = acmeSettings(config);
            publicLimits = publicLimits();
            clusterSettings = cluster.settings();
            if (clusterSettings != null && portRange == null) {
                throw new IllegalArgumentException("cluster mode needs --port-range: a name's raw port is allotted"
                        + " in the cluster and every node listens on it, so the range must be free on every node");
            }
            admin.check();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), Reasons.of(e));
        }
        checkAddresses();
        if (portGrace < 0 || Double.isNaN(portGrace)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--port-grace must not be negative");
        }
        Authenticator authenticator;
        try {
            authenticator = authenticator();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), Reasons.of(e));
        } catch (Exception e) {
            log.error("cannot start the authenticator: {}", e.toString());
            return 1;
        }
        Registrar registrar;
        try {
            registrar = registrar(config.ingress().domain());
        } catch (IllegalArgumentException e) {
            authenticator.close();
            throw new CommandLine.ParameterException(spec.commandLine(), Reasons.of(e));
        } catch (Exception e) {
            log.error("cannot start the registrar: {}", e.toString());
            authenticator.close();
            return 1;
        }
        io.diglett.server.link.NameRegistry names;
        try {
            names = clusterSettings == null ? new io.diglett.server.link.LocalNameRegistry()
                    : new io.diglett.server.cluster.EtcdNameRegistry(
                            new io.diglett.server.cluster.EtcdStore(clusterSettings));
        } catch (Exception e) {
            log.error("cannot reach the cluster store: {}", Reasons.of(e));
            authenticator.close();
            return 1;
        }
        Gateway gateway = new Gateway(config, authenticator, registrar, names);
        try {
            gateway.useAcme(acmeSettings);
        } catch (IllegalArgumentException e) {
            gateway.close();
            throw new CommandLine.ParameterException(spec.commandLine(), Reasons.of(e));
        }
        gateway.usePortGrace(portGrace());
        gateway.useReservedNames(reservedNames);
        gateway.updatePublicLimits(publicLimits);
        // before the listeners open: once an agent can connect, a SIGHUP reloads (the JVM's default would exit)
        new GatewayReload(this, gateway).onSignal();
        try {
            gateway.start();
            if (admin.address != null) {
                gateway.startAdmin(admin.address, admin.token, admin.hosts);
            }
            ClassDataSharing.working();
        } catch (Exception e) {
            log.error("cannot start the gateway on {}: {}", listen, Reasons.of(e));
            gateway.close();
            return 1;
        }
        ShutdownHook.install(() -> { // a clean stop on SIGTERM exits 0, not 143
            log.info("shutting down: no new agents or connections, open connections get {} s to finish",
                    gateway.config().limits().drainTimeout().toSeconds());
            gateway.close();
            log.info("stopped");
        });
        new CountDownLatch(1).await(); // until a signal: the hook ends the process
        return 0;
    }

    private static Duration seconds(double value) {
        return Duration.ofMillis(Math.round(value * 1000));
    }

    /** The ACME settings ({@code --acme}), or {@code null}; the state directory is the agent link's. */
    public io.diglett.server.config.AcmeSettings acmeSettings(GatewayConfig config) {
        Path state = config.tls().stateDir() != null ? config.tls().stateDir()
                : Directories.of(CommandLines.env(spec)).state();
        io.diglett.server.config.AcmeSettings settings = acme.settings(state);
        if (settings != null && (config.ingress().domain() == null || config.ingress().https() == null)) {
            throw new IllegalArgumentException("--acme needs --https and --domain: its certificates are for"
                    + " https://NAME.DOMAIN");
        }
        if (settings != null && settings.linkName() != null && config.tls().plaintext()) {
            throw new IllegalArgumentException("--acme-link-name needs TLS on the agent link (not --plaintext)");
        }
        return settings;
    }

    /** The gateway's settings from the options. */
    public GatewayConfig gatewayConfig() {
        TlsSettings tls = plaintext.enabled() ? TlsSettings.plain() : new TlsSettings(false, tlsCert, tlsKey,
                stateDir != null ? stateDir : Directories.of(CommandLines.env(spec)).state());
        if (plaintext.enabled()) {
            List<String> given = new ArrayList<>();
            if (tlsCert != null) {
                given.add("--tls-cert");
            }
            if (tlsKey != null) {
                given.add("--tls-key");
            }
            if (stateDir != null) {
                given.add("--state-dir");
            }
            if (!given.isEmpty()) {
                throw new IllegalArgumentException("--plaintext cannot be combined with " + String.join(" or ", given)
                        + ": the agent link has no TLS, so there is no certificate or key to use");
            }
        }
        return GatewayConfig.defaults().withListen(listen).withPublicBind(bind).withPortRange(portRange)
                .withWindow(window.bytes()).withTls(tls)
                .withIngress(new IngressSettings(domain, http, https, httpsCert, httpsKey))
                .withBuffers(bufferSettings())
                .withLimits(limits())
                .withPreLogin(preLogin())
                .withForwarding(forwarding());
    }

    /**
     * The addresses the gateway will listen on resolve to addresses of this machine: a typo is a usage error at
     * start (exit 2), not a failure at each agent's registration. A port that is taken is checked by the start.
     */
    void checkAddresses() {
        checkLocal("--listen", listen.host());
        checkLocal("--bind", bind);
        if (http != null) {
            checkLocal("--http", http.host());
        }
        if (https != null) {
            checkLocal("--https", https.host());
        }
        if (admin.address != null) {
            checkLocal("--admin", admin.address.host());
        }
    }

    /** {@code host}, the host of {@code option}'s value, resolves to an address of this machine, else a usage error. */
    private void checkLocal(String option, String host) {
        CommandLine.Model.OptionSpec optionSpec = spec.findOption(option);
        String value = given(optionSpec);
        InetAddress address;
        try {
            address = InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), option + " " + value
                    + ": not an IP address or a known host name", optionSpec, value);
        }
        try (ServerSocket probe = new ServerSocket()) {
            probe.bind(new InetSocketAddress(address, 0), 1);
        } catch (IOException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), option + " " + value + ": cannot listen on "
                    + address.getHostAddress() + " (" + Reasons.of(e) + "); is it an address of this machine?",
                    optionSpec, value);
        }
    }

    /**
     * The text {@code option} was given as: on the command line, else by the config file or environment, else
     * its default (so that a usage error about it can say where the value came from).
     */
    private String given(CommandLine.Model.OptionSpec option) {
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        CommandLine.Model.OptionSpec matched = parsed == null ? null : parsed.matchedOption(option.longestName());
        if (matched != null && !matched.stringValues().isEmpty()) {
            return matched.stringValues().get(matched.stringValues().size() - 1);
        }
        try {
            String provided = spec.defaultValueProvider() == null ? null
                    : spec.defaultValueProvider().defaultValue(option);
            if (provided != null) {
                return provided;
            }
        } catch (Exception e) {
            // the provider already reported its problem when the options were parsed
        }
        return option.defaultValue() != null ? option.defaultValue() : String.valueOf(option.getValue());
    }

    /** {@code --port-grace}. */
    Duration portGrace() {
        return seconds(portGrace);
    }

    /** The limits the options give. */
    Limits limits() {
        int streams = maxStreams > 0 ? maxStreams : Limits.streamsFor(bufferSettings().total());
        return new Limits(maxAgents, maxNames, streams, seconds(handshakeTimeout), heartbeat.interval(),
                seconds(drainTimeout), maxLinks);
    }

    /** The buffer budget, stall timeout and kernel queue per socket from the options. */
    BufferSettings bufferSettings() {
        return buffers.settings(budgetPerAgent, budgetPerClient);
    }

    /** The pre-login limits the options give. */
    PreLoginLimits preLogin() {
        return new PreLoginLimits(maxPendingLogins, maxPendingLoginsPerIp, seconds(firstByteTimeout),
                seconds(loginTimeout));
    }

    /** A new registrar from --registrar and --registrar-option; its domain defaults to {@code domain}. */
    public Registrar registrar(String domain) throws Exception {
        Map<String, String> options = new LinkedHashMap<>(registrarOptions);
        if (domain != null) {
            options.putIfAbsent("domain", domain);
        }
        return RegistrarProvider.find(registrarName).create(options);
    }

    /** A new authenticator from --auth-file, or --auth and --auth-option. */
    public Authenticator authenticator() throws Exception {
        Map<String, String> options = new LinkedHashMap<>(authOptions);
        String name = auth;
        if (authFile != null) {
            if (name != null && !name.equals("file")) {
                throw new IllegalArgumentException("--auth-file goes with the file authenticator, not '" + name + "'");
            }
            name = "file";
            options.put("file", authFile.toString());
        }
        return AuthenticatorProvider.find(name == null ? "open" : name).create(options);
    }

    /** --client-ip-header and --accept-proxy-from. */
    ForwardingSettings forwarding() {
        List<String> headers = ForwardingSettings.clientIpHeaders(clientIpHeaders);
        List<io.diglett.protocol.Cidr> upstreams = new ArrayList<>();
        if (acceptProxyFrom != null) {
            acceptProxyFrom.forEach(cidr -> {
                try {
                    upstreams.add(io.diglett.protocol.Cidr.parse(cidr));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("--accept-proxy-from " + e.getMessage(), e);
                }
            });
        }
        return new ForwardingSettings(headers, upstreams);
    }

    /** The public clients' limits the options give. */
    public PublicLimits publicLimits() {
        return new PublicLimits(maxConnectionsPerIp, seconds(ingressIdleTimeout), seconds(tcpIdleTimeout));
    }

    /** {@code --http}: the port defaults to 80. */
    static final class HttpConverter extends Converters.Address {
        HttpConverter() {
            super(80);
        }
    }

    /** {@code --https}: the port defaults to 443. */
    static final class HttpsConverter extends Converters.Address {
        HttpsConverter() {
            super(443);
        }
    }

    static final class ReservedNamesConverter implements CommandLine.ITypeConverter<ReservedNames> {
        @Override
        public ReservedNames convert(String value) {
            return Converters.parse(() -> ReservedNames.parse(value));
        }
    }

    static final class PortRangeConverter implements CommandLine.ITypeConverter<PortRange> {
        @Override
        public PortRange convert(String value) {
            return Converters.parse(() -> PortRange.parse(value));
        }
    }
}
