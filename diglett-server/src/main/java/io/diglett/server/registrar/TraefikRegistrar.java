package io.diglett.server.registrar;

import io.diglett.protocol.Reasons;
import io.diglett.server.config.Plugins;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exposes each name through Traefik's file provider: writes {@code diglett-NAME.yml} into the directory Traefik
 * watches (its {@code providers.file.directory}), routing {@code Host(`NAME.DOMAIN`)} to the name's public
 * port, and deletes it on unregister. Files are written whole and renamed into place, so Traefik never reads
 * half a file. Every write and delete runs on one thread, in the order they were asked for, and a delete removes
 * only the file its own exposure wrote: the withdrawal of a link that died never removes the file its
 * successor (the same name, another port) wrote.
 */
final class TraefikRegistrar implements Registrar {

    private static final Logger log = LoggerFactory.getLogger(TraefikRegistrar.class);

    private final Path dir;
    private final String domain;
    private final String entryPoints;
    private final String upstreamHost;
    private final ExecutorService runner = Plugins.worker("diglett-registrar-traefik");

    TraefikRegistrar(Path dir, String domain, String entryPoints, String upstreamHost) {
        this.dir = dir;
        this.domain = domain;
        this.entryPoints = entryPoints;
        this.upstreamHost = upstreamHost;
    }

    Path fileOf(String name) {
        return dir.resolve("diglett-" + name + ".yml");
    }

    /** The dynamic configuration for one name, in Traefik's documented YAML schema. */
    String configuration(Exposure exposure) {
        String id = "diglett-" + exposure.name();
        StringBuilder yaml = new StringBuilder()
                .append("# Written by diglett for '").append(exposure.name()).append("' (public port ")
                .append(exposure.port()).append("); removed when its agent leaves.\n")
                .append("http:\n")
                .append("  routers:\n")
                .append("    ").append(id).append(":\n")
                .append("      rule: \"Host(`").append(exposure.name()).append('.').append(domain).append("`)\"\n")
                .append("      service: ").append(id).append('\n');
        if (!entryPoints.isBlank()) {
            yaml.append("      entryPoints:\n");
            for (String entryPoint : entryPoints.split(",")) {
                yaml.append("        - ").append(entryPoint.strip()).append('\n');
            }
        }
        return yaml.append("  services:\n")
                .append("    ").append(id).append(":\n")
                .append("      loadBalancer:\n")
                .append("        servers:\n")
                .append("          - url: \"http://").append(upstreamHost).append(':').append(exposure.port())
                .append("\"\n")
                .toString();
    }

    @Override
    public CompletionStage<Void> register(Exposure exposure) {
        return CompletableFuture.runAsync(() -> {
            try {
                Files.createDirectories(dir);
                Path tmp = Files.createTempFile(dir, ".diglett-" + exposure.name(), ".tmp");
                Files.writeString(tmp, configuration(exposure), StandardCharsets.UTF_8);
                Files.move(tmp, fileOf(exposure.name()), StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write Traefik configuration in " + dir + ": " + Reasons.of(e),
                        e);
            }
        }, runner);
    }

    @Override
    public void unregister(Exposure exposure) {
        runner.execute(() -> {
            Path file = fileOf(exposure.name());
            try {
                if (!Files.exists(file)) {
                    return;
                }
                if (!Files.readString(file, StandardCharsets.UTF_8).equals(configuration(exposure))) {
                    log.debug("{} now belongs to a newer registration of '{}': left in place", file, exposure.name());
                    return;
                }
                Files.deleteIfExists(file);
            } catch (IOException e) {
                log.warn("cannot remove {}: {}", file, e.toString());
            }
        });
    }

    /** Finishes what was asked (a file Traefik reads is never left half done), then stops. */
    @Override
    public void close() {
        runner.shutdown();
        try {
            if (!runner.awaitTermination(10, TimeUnit.SECONDS)) {
                log.warn("the traefik registrar's directory {} is slow: not waiting for its last writes", dir);
                runner.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            runner.shutdownNow();
        }
    }
}
