package io.diglett.agent;

import io.diglett.common.Directories;
import io.diglett.common.HostPort;
import io.diglett.common.cli.ClassDataSharing;
import io.diglett.common.cli.CommandLines;
import io.diglett.common.cli.ConfigDefaults;
import io.diglett.common.cli.Converters;
import io.diglett.common.cli.ConfigOption;
import io.diglett.common.cli.DebugOption;
import io.diglett.common.cli.HeartbeatOption;
import io.diglett.common.cli.JdkWarmUp;
import io.diglett.common.cli.PlaintextOption;
import io.diglett.common.cli.ShutdownHook;
import io.diglett.common.cli.VersionProvider;
import io.diglett.common.cli.WindowOption;
import io.diglett.common.logging.Logging;
import io.diglett.common.transport.Fingerprint;
import io.diglett.protocol.Names;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.Reasons;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine;

/** {@code diglett}: the agent's command line. */
@Command(name = "diglett", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        sortOptions = false, usageHelpAutoWidth = true, synopsisSubcommandLabel = "",
        subcommands = {TrustCommand.class, HashPasswordCommand.class},
        description = "Exposes local services through a Diglett gateway: dials the gateway, registers each NAME "
                + "and carries every public connection to its backend over one multiplexed link.%n"
                + "Examples: diglett -g gateway.com:20000 -n example localhost:9000%n"
                + "          diglett -g gateway.com -n web=localhost:8080 -n shop=localhost:9000%n"
                + "          diglett trust forget gateway.com (after the gateway's certificate really changed)%n"
                + "          diglett hash-password ops (a basic-auth user for the gateway's token file)",
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:stopped by SIGTERM or Ctrl-C (after telling the gateway)",
            "1:the gateway refused the agent (token, name, identity check); lost links are retried, not fatal",
                "2:wrong arguments"})
public final class AgentCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-g", "--gateway"}, required = true, paramLabel = "HOST[:PORT][,HOST[:PORT]...]",
            converter = GatewayListConverter.class,
            description = "Gateway to dial; the port defaults to " + Protocol.DEFAULT_GATEWAY_PORT + ". Several "
                    + "gateways of one cluster, comma-separated (or a host name with several addresses): the agent "
                    + "dials one, and when it cannot reach it or loses it, the next.")
    GatewayList gateway;

    /** The gateways {@code -g} names, in order. */
    record GatewayList(List<HostPort> all) {
        HostPort first() {
            return all.get(0);
        }
    }

    /** {@code HOST[:PORT][,HOST[:PORT]...]}. */
    static final class GatewayListConverter implements CommandLine.ITypeConverter<GatewayList> {
        @Override
        public GatewayList convert(String value) {
            List<HostPort> all = new java.util.ArrayList<>();
            for (String one : value.split(",", -1)) {
                if (one.isBlank()) {
                    throw new CommandLine.TypeConversionException("'" + value + "' has an empty gateway");
                }
                all.add(new Converters.LinkAddress().convert(one.trim()));
            }
            return new GatewayList(all);
        }
    }

    @Option(names = {"-n", "--name"}, required = true, paramLabel = "NAME[=HOST:PORT][,OPTION...]",
            converter = NameConverter.class, split = ConfigDefaults.SPLIT, hideParamSyntax = true,
            description = "Name to register: a DNS label (a-z, 0-9, '-', up to 63 characters). Repeat it for "
                    + "several names; NAME=HOST:PORT gives a name its own backend, e.g. -n web=localhost:8080 "
                    + "-n shop=localhost:9000. Options after commas: proxy=v1|v2 (as --proxy-protocol), "
                    + "tls=passthrough (as --tls-passthrough), raw=on|off (as --raw-port), e.g. "
                    + "-n shop=localhost:8443,tls=passthrough.")
    List<NameArg> names;

    @Option(names = "--proxy-protocol", paramLabel = "v1|v2", converter = ProxyConverter.class,
            description = "Send each backend connection a PROXY protocol header first (HAProxy's v1 text or v2 "
                    + "binary) carrying the public client's address; the backend must expect it.")
    TunnelSpec.ProxyProtocol proxyProtocol;

    @Option(names = "--tls-passthrough",
            description = "On the gateway's HTTPS ingress, pass the client's TLS through untouched: the backend "
                    + "terminates TLS itself (its own certificate for NAME.DOMAIN; HTTP/2 works end to end).")
    boolean tlsPassthrough;

    @Option(names = "--raw-port",
            description = "Ask for a raw TCP port for each name also when the gateway serves names on its ingress "
                    + "(--domain with --http/--https), where names have none otherwise; bytes on it reach the backend "
                    + "untouched, without the forwarding headers the ingress sets. Needs a gateway of this release.")
    boolean rawPort;

    @Option(names = "--allow-cidr", paramLabel = "CIDR", split = ConfigDefaults.SPLIT,
            description = "Only clients in this address block may reach the names (repeatable; IPv4 or IPv6, e.g."
                    + " 10.0.0.0/8): the gateway closes other raw connections at once and answers other HTTP"
                    + " requests 403. Per name: -n web=...,allow-cidr=CIDR. Needs a gateway of this release.")
    List<String> allowCidr = new ArrayList<>();

    @Option(names = "--deny-cidr", paramLabel = "CIDR", split = ConfigDefaults.SPLIT,
            description = "Clients in this address block may not reach the names, whatever --allow-cidr says"
                    + " (repeatable). Per name: -n web=...,deny-cidr=CIDR.")
    List<String> denyCidr = new ArrayList<>();

    @Option(names = "--rate-limit", paramLabel = "N/s",
            description = "At most N new connections (raw) or requests (HTTP) a second per client address, in"
                    + " bursts of N; over it HTTP gets 429 with Retry-After and raw connections are closed. Per"
                    + " name: -n web=...,rate-limit=N/s.")
    String rateLimit;

    @Option(names = "--request-header", paramLabel = "NAME:VALUE", split = ConfigDefaults.SPLIT,
            description = "The gateway sets this header on every request its HTTP ingress forwards to the names,"
                    + " replacing the client's (repeatable). Only for names served on the HTTP ingress alone. Per"
                    + " name: -n web=...,request-header=NAME:VALUE.")
    List<String> requestHeaders = new ArrayList<>();

    @Option(names = "--remove-request-header", paramLabel = "NAME", split = ConfigDefaults.SPLIT,
            description = "The gateway removes this header from every request it forwards to the names (repeatable)."
                    + " Per name: -n web=...,remove-request-header=NAME.")
    List<String> removeRequestHeaders = new ArrayList<>();

    @Option(names = "--basic-auth", paramLabel = "USER:PASSWORD", split = ConfigDefaults.SPLIT,
            description = "HTTP requests to the names must log in as one of these users (repeatable; 401 otherwise)."
                    + " The agent sends the gateway a salted slow hash of the password, never the password; prefer the"
                    + " config file to the command line, which other users of this machine may read. Per name:"
                    + " -n web=...,basic-auth=USER:PASSWORD. The backend gets the user in X-Diglett-User.")
    List<String> basicAuth = new ArrayList<>();

    @Option(names = "--response-header", paramLabel = "NAME:VALUE", split = ConfigDefaults.SPLIT,
            description = "The gateway sets this header on every response its HTTP ingress returns from the names,"
                    + " replacing the backend's (repeatable). Per name: -n web=...,response-header=NAME:VALUE.")
    List<String> responseHeaders = new ArrayList<>();

    @Option(names = "--jwt-jwks", paramLabel = "URL",
            description = "HTTP requests to the names must carry a bearer token (a JWT) signed by a key of this JWK"
                    + " set, unexpired (401 otherwise). The backend gets the subject in X-Diglett-User. Per name:"
                    + " -n web=...,jwt-jwks=URL.")
    String jwtJwks;

    @Option(names = "--jwt-issuer", paramLabel = "ISS", description = "With --jwt-jwks: the token's issuer (iss).")
    String jwtIssuer;

    @Option(names = "--jwt-audience", paramLabel = "AUD",
            description = "With --jwt-jwks: an audience (aud) the token must name.")
    String jwtAudience;

    @Option(names = "--oidc-issuer", paramLabel = "URL",
            description = "Visitors must log in at this OpenID provider (authorization code with PKCE, on the"
                    + " name's own host, HTTPS only); the redirect URI to register there is"
                    + " https://NAME.DOMAIN/.diglett/oidc/callback. The backend gets X-Diglett-User and"
                    + " X-Diglett-Email. Per name: -n web=...,oidc-issuer=URL.")
    String oidcIssuer;

    @Option(names = "--oidc-client-id", paramLabel = "ID", description = "With --oidc-issuer: the client's id.")
    String oidcClientId;

    @Option(names = "--oidc-client-secret", paramLabel = "SECRET",
            description = "With --oidc-issuer: the client's secret (none for a public client). Prefer the config"
                    + " file to the command line, which other users of this machine may read.")
    String oidcClientSecret;

    @Option(names = "--oidc-allow", paramLabel = "EMAIL|@DOMAIN|*", split = ConfigDefaults.SPLIT,
            description = "With --oidc-issuer: an account that may log in, by its verified address, or every"
                    + " address of @DOMAIN, or * for any account of the provider (repeatable; at least one).")
    List<String> oidcAllow = new ArrayList<>();

    /** {@code USER:PASSWORD} as the policy line that carries its hash. */
    static String basicAuthLine(String given) {
        int colon = given.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("--basic-auth '" + given.replaceAll(":.*", ":...")
                    + "' is not USER:PASSWORD");
        }
        return "basic-auth " + io.diglett.protocol.Policy.BasicCredential.hash(given.substring(0, colon),
                given.substring(colon + 1)) + "\n";
    }

    /** The agent-wide visitor rules as policy lines (each name adds its own). */
    private String agentWidePolicy() {
        StringBuilder lines = new StringBuilder();
        requestHeaders.forEach(header -> lines.append("request-header ").append(header).append('\n'));
        removeRequestHeaders.forEach(header -> lines.append("remove-request-header ").append(header).append('\n'));
        basicAuth.forEach(pair -> lines.append(basicAuthLine(pair)));
        allowCidr.forEach(block -> lines.append("allow-cidr ").append(block).append('\n'));
        denyCidr.forEach(block -> lines.append("deny-cidr ").append(block).append('\n'));
        if (rateLimit != null) {
            lines.append("rate-limit ").append(rateLimit).append('\n');
        }
        responseHeaders.forEach(header -> lines.append("response-header ").append(header).append('\n'));
        java.util.Map<String, String> single = new java.util.LinkedHashMap<>();
        single.put("jwt-jwks", jwtJwks);
        single.put("jwt-issuer", jwtIssuer);
        single.put("jwt-audience", jwtAudience);
        single.put("oidc-issuer", oidcIssuer);
        single.put("oidc-client-id", oidcClientId);
        single.put("oidc-client-secret", oidcClientSecret);
        single.forEach((rule, value) -> {
            if (value != null) {
                lines.append(rule).append(' ').append(value).append('\n');
            }
        });
        oidcAllow.forEach(account -> lines.append("oidc-allow ").append(account).append('\n'));
        return lines.toString();
    }

    @Option(names = {"-t", "--token"}, paramLabel = "TOKEN",
            description = "Token handed to the gateway at login (default: the DIGLETT_TOKEN environment variable).")
    String token;

    @CommandLine.Mixin
    DebugOption debug = new DebugOption();

    @CommandLine.Mixin
    WindowOption window = new WindowOption();

    @Option(names = "--fingerprint", paramLabel = "SHA256:...", converter = FingerprintConverter.class,
            description = "Accept only a gateway whose certificate has this fingerprint (the gateway logs it at "
                    + "start).")
    Fingerprint fingerprint;

    @Option(names = "--known-gateways", paramLabel = "FILE",
            description = "Trust-on-first-use file (default: $XDG_CONFIG_HOME/diglett/known_gateways or "
                    + "~/.config/diglett/known_gateways).")
    Path knownGateways;

    @Option(names = "--insecure", description = "Do not verify the gateway's certificate (a warning is logged).")
    boolean insecure;

    @CommandLine.Mixin
    PlaintextOption plaintext = new PlaintextOption();

    @Option(names = "--max-pending-connects", paramLabel = "N",
            defaultValue = "" + AgentConfig.DEFAULT_MAX_PENDING_CONNECTS,
            description = "Backend connects in progress at once; more clients wait for a slot (default: "
                    + "${DEFAULT-VALUE}).")
    int maxPendingConnects;

    @Option(names = "--max-streams", paramLabel = "N", defaultValue = "" + AgentConfig.DEFAULT_MAX_STREAMS,
            description = "Streams open at once; the gateway's further Opens are refused (default: ${DEFAULT-VALUE}).")
    int maxStreams;

    @Option(names = "--links", paramLabel = "N", defaultValue = "auto", converter = Converters.CountOrAuto.class,
            description = "Links to the gateway, all in one session: each public connection goes on the one with the"
                    + " fewest streams, and each has a thread of its own (default: ${DEFAULT-VALUE}: one per two of"
                    + " this machine's cores, at most " + AgentConfig.MAX_DEFAULT_LINKS + "; 1 to " + AgentConfig.MAX_LINKS
                    + "). A gateway older than protocol version 5 gets one.")
    int links;

    @CommandLine.Mixin
    HeartbeatOption heartbeat = new HeartbeatOption();

    @CommandLine.Mixin
    io.diglett.common.cli.BufferOptions buffers = new io.diglett.common.cli.BufferOptions();

    @CommandLine.Mixin
    io.diglett.admin.AdminOptions admin = new io.diglett.admin.AdminOptions();

    @Option(names = "--no-console", fallbackValue = "true",
            description = "Plain log lines on standard error even on a terminal, instead of the live status view "
                    + "(whose log lines go to $XDG_STATE_HOME/diglett/agent.log).")
    boolean noConsole;

    @Option(names = "--reconnect-max", paramLabel = "SECONDS", defaultValue = "30",
            description = "Longest wait between reconnect attempts (default: ${DEFAULT-VALUE}).")
    double reconnectMax;

    @CommandLine.Mixin
    ConfigOption config = new ConfigOption();

    @Parameters(index = "0", arity = "0..1", paramLabel = "HOST:PORT", converter = Converters.HostAndPort.class,
            descriptionKey = "backend",
            description = "The backend for the names given without one, e.g. localhost:9000.")
    HostPort backend;

    /** A {@code -n} value: a name, its own backend if written {@code NAME=HOST:PORT}, and its options. */
    record NameArg(String name, HostPort backend, TunnelSpec.ProxyProtocol proxy, boolean tlsPassthrough,
                   Boolean rawPort, String policy) {
        NameArg(String name, HostPort backend) {
            this(name, backend, null, false, null, "");
        }
    }

    /** The tunnels the arguments describe: each name with its own backend or the positional one. */
    List<TunnelSpec> tunnels() {
        List<TunnelSpec> tunnels = new ArrayList<>();
        boolean positionalUsed = false;
        for (NameArg arg : names) {
            HostPort target = arg.backend() != null ? arg.backend() : backend;
            if (target == null) {
                throw new IllegalArgumentException("name '" + arg.name() + "' has no backend: write -n "
                        + arg.name() + "=HOST:PORT, or give HOST:PORT after the options");
            }
            positionalUsed |= arg.backend() == null;
            if (tunnels.stream().anyMatch(t -> t.name().equals(arg.name()))) {
                throw new IllegalArgumentException("name '" + arg.name() + "' is given twice");
            }
            io.diglett.protocol.Policy policy;
            try {
                policy = io.diglett.protocol.Policy.parse(agentWidePolicy() + arg.policy());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("the visitor policy of '" + arg.name() + "': " + e.getMessage(), e);
            }
            tunnels.add(new TunnelSpec(arg.name(), target, arg.proxy() != null ? arg.proxy() : proxyProtocol,
                    arg.tlsPassthrough() || tlsPassthrough, arg.rawPort() != null ? arg.rawPort() : rawPort,
                    policy));
        }
        if (backend != null && !positionalUsed) {
            throw new IllegalArgumentException("HOST:PORT " + backend + " is not used: every name has its own backend");
        }
        return tunnels;
    }

    public static void main(String[] args) {
        JdkWarmUp.start();
        CommandLines.run(AgentCommand::new, args);
    }

    /** The agent's directories, in the environment the command line was given. */
    Directories directories() {
        return Directories.of(CommandLines.env(spec));
    }

    /** The agent's settings from the options. */
    AgentConfig agentConfig() {
        TrustSettings trust = new TrustSettings(plaintext.enabled(), insecure, fingerprint,
                knownGateways != null ? knownGateways : TrustSettings.defaultKnownGateways(directories()));
        List<TunnelSpec> tunnels = tunnels();
        return AgentConfig.of(gateway.first(), token, tunnels.get(0).name(), tunnels.get(0).backend(), trust)
                .withGateways(gateway.all()).withTunnels(tunnels).withWindow(window.bytes())
                .withMaxPendingConnects(maxPendingConnects).withMaxStreams(maxStreams)
                .withHeartbeat(heartbeat.interval())
                .withLinks(links > 0 ? links : AgentConfig.defaultLinks())
                .withBuffers(buffers.settings(Long.MAX_VALUE, Long.MAX_VALUE)) // one session: all of the budget
                .withReconnectCap(Duration.ofMillis(Math.round(reconnectMax * 1000)));
    }

    @Override
    public Integer call() throws InterruptedException {
        // Logging first: slf4j-simple reads where to write and the levels when the first logger is created,
        // and building the settings below already creates some (the buffer budget's, say).
        Path logFile = directories().state().resolve("agent.log");
        boolean console = !noConsole && StatusView.usable();
        if (console) {
            try {
                Logging.toFile(logFile);
            } catch (java.io.IOException e) {
                console = false;
            }
        }
        Logging.configure(debug.verbosity());
        AgentConfig config;
        try {
            config = agentConfig();
            admin.check();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), Reasons.of(e));
        }
        ConfigDefaults defaults = ConfigDefaults.of(spec);
        if (defaults != null) {
            defaults.warnings().forEach(org.slf4j.LoggerFactory.getLogger(AgentCommand.class)::warn);
        }
        Agent agent = new Agent(config);
        if (admin.address != null) {
            agent.startAdmin(admin.address, admin.token, admin.hosts);
        }
        StatusView view = console ? new StatusView(agent.status(), System.out, logFile.toString()) : null;
        // SIGTERM / Ctrl-C: leave the gateway cleanly, then exit 0
        ShutdownHook shutdown = ShutdownHook.install(() -> {
            if (view != null) {
                view.close();
            }
            agent.close();
        });
        if (view != null) {
            view.start();
        }
        agent.start().thenRun(ClassDataSharing::working);
        String reason;
        try {
            reason = agent.closed().get(); // only a refusal ends it: lost links are retried
        } catch (java.util.concurrent.ExecutionException impossible) {
            throw new IllegalStateException(impossible);
        } finally {
            shutdown.disarm(); // from here on the exit code is this method's: 1
            if (view != null) {
                view.close();
            }
            agent.close();
        }
        if (view != null) {
            System.err.println("diglett: the gateway refused this agent: " + reason + " (log: " + logFile + ")");
        }
        return 1;
    }

    static final class NameConverter implements CommandLine.ITypeConverter<NameArg> {
        @Override
        public NameArg convert(String value) {
            // a usage error never repeats a password given here
            String shown = value.replaceAll("basic-auth=[^,]*", "basic-auth=USER:...")
                    .replaceAll("oidc-client-secret=[^,]*", "oidc-client-secret=...");
            String[] parts = value.split(",", -1);
            String head = parts[0];
            int equals = head.indexOf('=');
            String name = equals < 0 ? head : head.substring(0, equals);
            String problem = Names.problem(name);
            if (problem != null) {
                throw new CommandLine.TypeConversionException(problem);
            }
            HostPort target = equals < 0 ? null
                    : new Converters.HostAndPort().convert(head.substring(equals + 1));
            TunnelSpec.ProxyProtocol proxy = null;
            boolean passthrough = false;
            Boolean raw = null;
            StringBuilder policy = new StringBuilder();
            for (int i = 1; i < parts.length; i++) {
                String option = parts[i].trim();
                if (option.startsWith("proxy=")) {
                    proxy = new ProxyConverter().convert(option.substring("proxy=".length()));
                } else if (option.equals("tls=passthrough")) {
                    passthrough = true;
                } else if (option.equals("raw=on") || option.equals("raw=off")) {
                    raw = option.equals("raw=on");
                } else if (option.startsWith("basic-auth=")) {
                    try {
                        policy.append(basicAuthLine(option.substring("basic-auth=".length())));
                    } catch (IllegalArgumentException e) {
                        throw new CommandLine.TypeConversionException(e.getMessage());
                    }
                } else if (option.startsWith("allow-cidr=") || option.startsWith("deny-cidr=")
                        || option.startsWith("rate-limit=") || option.startsWith("request-header=")
                        || option.startsWith("remove-request-header=") || option.startsWith("response-header=")
                        || option.startsWith("jwt-") || option.startsWith("oidc-")) {
                    policy.append(option.replaceFirst("=", " ")).append('\n');
                } else {
                    throw new CommandLine.TypeConversionException("'" + shown + "': unknown option '" + option
                            + "' (known: proxy=v1, proxy=v2, tls=passthrough, raw=on, raw=off, allow-cidr=CIDR,"
                            + " deny-cidr=CIDR, rate-limit=N/s, request-header=NAME:VALUE, remove-request-header=NAME,"
                            + " response-header=NAME:VALUE, basic-auth=USER:PASSWORD, jwt-jwks=URL, jwt-issuer=ISS,"
                            + " jwt-audience=AUD, oidc-issuer=URL, oidc-client-id=ID, oidc-client-secret=SECRET,"
                            + " oidc-allow=EMAIL|@DOMAIN|*)");
                }
            }
            // checked with the agent-wide rules (a name may add oidc-allow to an agent-wide oidc-issuer), in tunnels()
            return new NameArg(name, target, proxy, passthrough, raw, policy.toString());
        }
    }

    static final class ProxyConverter implements CommandLine.ITypeConverter<TunnelSpec.ProxyProtocol> {
        @Override
        public TunnelSpec.ProxyProtocol convert(String value) {
            return switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
                case "v1", "1" -> TunnelSpec.ProxyProtocol.V1;
                case "v2", "2" -> TunnelSpec.ProxyProtocol.V2;
                default -> throw new CommandLine.TypeConversionException("PROXY protocol version '" + value
                        + "': expected v1 or v2");
            };
        }
    }

    static final class FingerprintConverter implements CommandLine.ITypeConverter<Fingerprint> {
        @Override
        public Fingerprint convert(String value) {
            return Converters.parse(() -> Fingerprint.parse(value));
        }
    }
}
