package io.diglett.server.registrar;

import io.diglett.protocol.Reasons;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exposes each name through Traefik's file provider: writes {@code diglett-NAME.yml} into the directory Traefik
 * watches (its {@code providers.file.directory}), routing {@code Host(`NAME.DOMAIN`)} to the name's public
 * port, and deletes it on unregister. Files are written whole and renamed into place, so Traefik never reads
 * half a file. Files are written and deleted on a thread of their own, in the order asked for, and the
 * unregister of a name that was registered again meanwhile (by a newer link) leaves the newer file in place (see
 * {@link RegistrarWorker}).
 */
final class TraefikRegistrar implements Registrar {

    private static final Logger log = LoggerFactory.getLogger(TraefikRegistrar.class);

    /** How long {@link #close} lets the requests made run. */
    private static final Duration CLOSE_GRACE = Duration.ofSeconds(5);

    private final Path dir;
    private final String domain;
    private final String entryPoints;
    private final String upstreamHost;
    private final RegistrarWorker worker = new RegistrarWorker("traefik", log, 1);

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
        return worker.register(exposure, () -> write(exposure));
    }

    private void write(Exposure exposure) {
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, ".diglett-" + exposure.name(), ".tmp");
            Files.writeString(tmp, configuration(exposure), StandardCharsets.UTF_8);
            Files.move(tmp, fileOf(exposure.name()), StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException again) {
                    log.warn("cannot remove {}: {}", tmp, Reasons.of(again));
                }
            }
            throw new UncheckedIOException("cannot write Traefik configuration in " + dir + ": " + Reasons.of(e), e);
        }
    }

    @Override
    public void unregister(Exposure exposure) {
        worker.unregister(exposure, () -> {
            try {
                Files.deleteIfExists(fileOf(exposure.name()));
            } catch (IOException e) {
                log.warn("cannot remove {}: {}", fileOf(exposure.name()), Reasons.of(e));
            }
        });
    }

    /** Lets the requests made (the unregisters of a shutting-down gateway) run, for a bounded time. */
    @Override
    public void close() {
        worker.close(CLOSE_GRACE);
    }
}
