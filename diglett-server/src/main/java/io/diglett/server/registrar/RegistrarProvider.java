package io.diglett.server.registrar;

import io.diglett.server.config.Plugins;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Makes {@link Registrar}s; found with {@link java.util.ServiceLoader} (list the class in
 * {@code META-INF/services/io.diglett.server.registrar.RegistrarProvider}) and chosen with {@code --registrar NAME}.
 * Options come from {@code --registrar-option KEY=VALUE}.
 */
public interface RegistrarProvider {

    /** The name {@code --registrar} selects this provider by. */
    String name();

    /** A new registrar; throw {@link IllegalArgumentException} with a clear message for bad options. */
    Registrar create(Map<String, String> options) throws Exception;

    /** The provider called {@code name} on the class path. */
    static RegistrarProvider find(String name) {
        return Plugins.find(RegistrarProvider.class, name, RegistrarProvider::name, "registrar");
    }

    private static String required(Map<String, String> options, String registrar, String key) {
        String value = options.get(key);
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("the " + registrar + " registrar needs --registrar-option " + key
                    + "=...");
        }
        return value;
    }

    /** A comma-separated option's items, stripped, empty ones left out. */
    private static List<String> list(String value) {
        return Arrays.stream(value.split(",")).map(String::strip).filter(item -> !item.isEmpty()).toList();
    }

    /** Option {@code timeout-ms} (default 10000). */
    private static Duration timeout(Map<String, String> options, String registrar) {
        String value = options.getOrDefault("timeout-ms", "10000");
        try {
            long millis = Long.parseLong(value.strip());
            if (millis > 0) {
                return Duration.ofMillis(millis);
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new IllegalArgumentException("the " + registrar + " registrar's timeout-ms must be a positive number"
                + " of milliseconds, not '" + value + "'");
    }

    /** Option {@code concurrency}: requests of different names run at once (default 8). */
    private static int concurrency(Map<String, String> options, String registrar) {
        String value = options.getOrDefault("concurrency", Integer.toString(RegistrarWorker.DEFAULT_CONCURRENCY));
        try {
            int count = Integer.parseInt(value.strip());
            if (count >= 1 && count <= 1024) {
                return count;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new IllegalArgumentException("the " + registrar + " registrar's concurrency must be a number from 1"
                + " to 1024, not '" + value + "'");
    }

    /** {@code log}: the seed's behaviour, the registration is only logged. */
    final class Log implements RegistrarProvider {
        @Override
        public String name() {
            return "log";
        }

        @Override
        public Registrar create(Map<String, String> options) {
            return Registrar.log();
        }
    }

    /**
     * {@code exec}: runs {@code command} with NAME, PORT, ACTION (register / unregister) and AGENT set, up to
     * {@code concurrency} commands at once (for different names), in an environment of PATH, those and the
     * gateway's variables listed in {@code env} (comma-separated names).
     */
    final class Exec implements RegistrarProvider {
        @Override
        public String name() {
            return "exec";
        }

        @Override
        public Registrar create(Map<String, String> options) {
            return new ExecRegistrar(required(options, "exec", "command"), timeout(options, "exec"),
                    concurrency(options, "exec"), list(options.getOrDefault("env", "")), System.getenv());
        }
    }

    /** {@code traefik}: one dynamic-configuration file per name in {@code dir}, routing NAME.{@code domain}. */
    final class Traefik implements RegistrarProvider {
        @Override
        public String name() {
            return "traefik";
        }

        @Override
        public Registrar create(Map<String, String> options) {
            return new TraefikRegistrar(Path.of(required(options, "traefik", "dir")),
                    required(options, "traefik", "domain"), options.getOrDefault("entrypoints", ""),
                    options.getOrDefault("upstream-host", "127.0.0.1"));
        }
    }

    /**
     * {@code caddy}: a route per name through Caddy's admin API ({@code admin}, default {@code localhost:2019}, or
     * {@code unix//PATH}), matching NAME.{@code domain} in HTTP server {@code server} (default {@code srv0}).
     */
    final class Caddy implements RegistrarProvider {
        @Override
        public String name() {
            return "caddy";
        }

        @Override
        public Registrar create(Map<String, String> options) {
            return new CaddyRegistrar(required(options, "caddy", "domain"),
                    options.getOrDefault("admin", "localhost:2019"), options.getOrDefault("server", "srv0"),
                    options.getOrDefault("upstream-host", "127.0.0.1"), timeout(options, "caddy"));
        }
    }
}
