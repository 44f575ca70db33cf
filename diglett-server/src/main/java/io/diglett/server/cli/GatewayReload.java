package io.diglett.server.cli;

import io.diglett.server.Gateway;
import io.diglett.server.config.Plugins;

import io.diglett.common.cli.CommandLines;
import io.diglett.common.cli.ConfigDefaults;
import io.diglett.protocol.Reasons;
import io.diglett.common.cli.Signals;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine;

/**
 * SIGHUP: the gateway reads its command line, environment and config file again and applies, without
 * dropping a tunnel, what can change while it runs: the limits (public clients' too), the authenticator (the token file is re-read
 * in any case) and the registrar. Every other option needs a restart; a change to one is logged and ignored.
 * Each reload logs its outcome on one line.
 */
public final class GatewayReload {

    private static final Logger log = LoggerFactory.getLogger(GatewayReload.class);

    static final Set<String> LIMITS = Set.of("max-agents", "max-names-per-agent", "max-streams-per-agent",
            "max-links-per-agent",
            "handshake-timeout", "heartbeat", "drain-timeout", "max-pending-logins", "max-pending-logins-per-ip",
            "first-byte-timeout", "login-timeout");
    static final Set<String> AUTH = Set.of("auth", "auth-file", "auth-option");
    static final Set<String> REGISTRAR = Set.of("registrar", "registrar-option");
    static final Set<String> ACME = Set.of("acme-directory", "acme-email", "acme-ca-cert", "acme-dns-hook",
            "acme-dns-hook-timeout", "acme-link-name", "acme-weekly-limit", "acme-weekly-limit-per-token");
    static final Set<String> PUBLIC_LIMITS = Set.of("max-connections-per-ip", "ingress-idle-timeout",
            "tcp-idle-timeout");

    private final Gateway gateway;
    private final String[] args;
    private final Map<String, String> env;
    /** The options in force, by key: what the gateway started with, updated by every part a reload applied. */
    private final Map<String, Object> inForce;
    /** One reload at a time, and one more waiting: it reads the newest files, so further SIGHUPs add nothing. */
    private final ExecutorService worker = Plugins.worker("diglett-reload", 1);

    /** Reloads for {@code gateway}, started by {@code running}, a parsed command line. */
    public GatewayReload(ServerCommand running, Gateway gateway) {
        this.gateway = gateway;
        ConfigDefaults defaults = ConfigDefaults.of(running.spec);
        this.args = defaults != null ? defaults.args()
                : running.spec.commandLine().getParseResult().originalArgs().toArray(String[]::new);
        this.env = defaults != null ? defaults.env() : System.getenv();
        this.inForce = values(running.spec);
    }

    public static final String SIGHUP_IGNORED = "SIGHUP is ignored by this process (started under nohup?): no"
            + " configuration reload on SIGHUP; restart to apply changes";

    /** Reloads on every SIGHUP, on a thread of its own. */
    public void onSignal() {
        try {
            if (!Signals.handle("HUP", this::requested)) {
                // the JVM leaves a signal ignored at start ignored (nohup): say so instead of failing quietly
                log.warn(SIGHUP_IGNORED);
            }
        } catch (IllegalArgumentException e) {
            log.warn("SIGHUP cannot be handled here ({}): no configuration reload", Reasons.of(e));
        }
    }

    /** A SIGHUP: a reload runs on the worker, unless one is already waiting there (it will see the same files). */
    private void requested() {
        try {
            worker.execute(this::reload);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            log.debug("SIGHUP while a reload is already waiting: that one will read the configuration");
        }
    }

    /** Reads the configuration again and applies what it can; returns the outcome it logged. */
    public synchronized String reload() {
        ServerCommand fresh = new ServerCommand();
        CommandLine cli = CommandLines.prepare(fresh, args, env);
        try {
            cli.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            return outcome(true, "configuration not reloaded, nothing changed: " + Reasons.of(e));
        }
        Map<String, Object> next = values(cli.getCommandSpec());
        List<String> changed = new ArrayList<>();
        next.forEach((key, value) -> {
            if (!Objects.deepEquals(value, inForce.get(key))) {
                changed.add(key);
            }
        });
        List<String> said = new ArrayList<>();
        boolean trouble = false;
        List<String> limits = changed.stream().filter(LIMITS::contains).toList();
        if (!limits.isEmpty()) {
            try {
                io.diglett.server.config.PreLoginLimits preLogin = fresh.preLogin(); // both valid, or neither applied
                gateway.updateLimits(fresh.limits());
                gateway.updatePreLogin(preLogin);
                said.add("limits " + describe(limits, next));
                accept(LIMITS, next);
            } catch (IllegalArgumentException e) {
                trouble = true;
                said.add("limits kept: " + Reasons.of(e));
            }
        }
        List<String> publicLimits = changed.stream().filter(PUBLIC_LIMITS::contains).toList();
        if (!publicLimits.isEmpty()) {
            try {
                gateway.updatePublicLimits(fresh.publicLimits());
                said.add("public limits " + describe(publicLimits, next));
                accept(PUBLIC_LIMITS, next);
            } catch (IllegalArgumentException e) {
                trouble = true;
                said.add("public limits kept: " + Reasons.of(e));
            }
        }
        if (changed.stream().anyMatch(AUTH::contains)) {
            try {
                gateway.replaceAuthenticator(fresh.authenticator()).close();
                // which options changed, not their values: --auth-option may hold a secret
                said.add("authenticator replaced (" + String.join(", ", changed.stream().filter(AUTH::contains)
                        .map(key -> "--" + key).toList()) + " changed)");
                accept(AUTH, next);
            } catch (Exception e) {
                trouble = true;
                said.add("authenticator kept: " + Reasons.of(e));
            }
        } else {
            gateway.authenticator().reload();
            said.add("tokens re-read");
        }
        if (changed.stream().anyMatch(REGISTRAR::contains)) {
            boolean sameKind = Objects.equals(next.get("registrar"), inForce.get("registrar"));
            try {
                int moved = gateway.replaceRegistrar(fresh.registrar(gateway.config().ingress().domain()), sameKind);
                said.add("registrar " + next.get("registrar") + " in place, " + moved + " live name(s) exposed by it");
                accept(REGISTRAR, next);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return outcome(true, "reload interrupted");
            } catch (Exception e) {
                trouble = true;
                said.add("registrar " + inForce.get("registrar") + " kept, the new one failed: " + Reasons.of(e));
            }
        }
        List<String> acme = changed.stream().filter(ACME::contains).toList();
        if (!acme.isEmpty()) {
            try {
                gateway.updateAcme(fresh.acmeSettings(gateway.config()));
                // which options changed, not their values: the hook command may hold a secret
                said.add("ACME settings applied (" + String.join(", ", acme.stream().map(key -> "--" + key).toList())
                        + " changed)");
                accept(ACME, next);
            } catch (IllegalArgumentException e) {
                trouble = true;
                said.add("ACME settings kept: " + Reasons.of(e));
            }
        }
        List<String> restart = changed.stream()
                .filter(key -> !LIMITS.contains(key) && !PUBLIC_LIMITS.contains(key) && !AUTH.contains(key)
                        && !REGISTRAR.contains(key) && !ACME.contains(key))
                .map(key -> "--" + key).toList();
        if (!restart.isEmpty()) {
            said.add("needs a restart, ignored: " + String.join(", ", restart));
        }
        return outcome(trouble, (changed.isEmpty() ? "configuration unchanged; " : "") + String.join("; ", said));
    }

    private static String outcome(boolean trouble, String text) {
        String line = "reload: " + text;
        if (trouble) {
            log.warn(line);
        } else {
            log.info(line);
        }
        return line;
    }

    /** {@code max-agents 1024 -> 2}, for each key. */
    private String describe(List<String> keys, Map<String, Object> next) {
        List<String> parts = new ArrayList<>();
        for (String key : keys) {
            parts.add(key + " " + shown(inForce.get(key)) + " -> " + shown(next.get(key)));
        }
        return String.join(", ", parts);
    }

    /** An option's value as written: -1 is how the {@code auto} converters spell a derived default. */
    private static Object shown(Object value) {
        return value instanceof Number n && n.longValue() == -1 ? "auto" : value;
    }

    private void accept(Set<String> keys, Map<String, Object> next) {
        for (String key : keys) {
            inForce.put(key, next.get(key));
        }
    }

    /** Every option's value by key. */
    private static Map<String, Object> values(CommandSpec spec) {
        Map<String, Object> values = new LinkedHashMap<>();
        for (OptionSpec option : spec.options()) {
            String key = ConfigDefaults.key(option);
            if (key != null) {
                values.put(key, option.getValue());
            }
        }
        return values;
    }
}
