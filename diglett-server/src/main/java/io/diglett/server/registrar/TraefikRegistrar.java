package io.diglett.server.registrar;

import io.diglett.protocol.Reasons;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exposes each name through Traefik's file provider: writes {@code diglett-NAME.yml} into the directory Traefik
 * watches (its {@code providers.file.directory}), routing {@code Host(`NAME.DOMAIN`)} to the name's public
 * port, and deletes it on unregister. A {@code diglett-NAME.yml} there already without the {@link #MARK} is the
 * operator's: the name is refused ({@link NameRefusedException}) and the file is never overwritten nor deleted. Files are written whole and renamed into place, so Traefik never reads
 * half a file. Files are written and deleted on a thread of their own, in the order asked for, and the
 * unregister of a name that was registered again meanwhile (by a newer link) leaves the newer file in place (see
 * {@link RegistrarWorker}). At start ({@link #reconcile}) it deletes the files an earlier run left, known by the
 * {@link #MARK} they begin with.
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

    /**
     * How every file this registrar writes begins, the name following: the mark it knows its own files by when
     * it {@linkplain #reconcile removes those an earlier run left}. A {@code diglett-*.yml} without it is the
     * operator's and stays.
     */
    static final String MARK = "# Written by diglett for '";
    /** What of a file is read to find the mark. */
    private static final int MARK_BYTES = 512;

    /** The dynamic configuration for one name, in Traefik's documented YAML schema. */
    String configuration(Exposure exposure) {
        String id = "diglett-" + exposure.name();
        StringBuilder yaml = new StringBuilder()
                .append(MARK).append(exposure.name()).append("' (public port ")
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
    public boolean routesToPorts() {
        return true; // its routes point at 127.0.0.1:PORT
    }

    @Override
    public CompletionStage<Void> register(Exposure exposure) {
        return worker.register(exposure, () -> write(exposure));
    }

    private void write(Exposure exposure) {
        Path tmp = null;
        try {
            Path file = fileOf(exposure.name());
            if (Files.exists(file, LinkOption.NOFOLLOW_LINKS) && !ownedBy(file, exposure.name())) {
                log.warn("refusing '{}': {} is there already without diglett's mark (the operator's own file)",
                        exposure.name(), file);
                throw new NameRefusedException("'" + exposure.name() + "." + domain + "' is a site of the operator's"
                        + " own configuration");
            }
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
            Path file = fileOf(exposure.name());
            try {
                if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
                    return;
                }
                if (!ownedBy(file, exposure.name())) {
                    log.warn("leaving {} in place: it does not begin with diglett's mark", file);
                    return;
                }
                Files.delete(file);
            } catch (NoSuchFileException gone) {
                // removed meanwhile: nothing to do
            } catch (IOException e) {
                log.warn("cannot remove {}: {}", fileOf(exposure.name()), Reasons.of(e));
            }
        });
    }

    /**
     * Deletes the files of names not in {@code live} that carry this registrar's mark, and temporary files a
     * write left, in {@code dir}: what a gateway killed before it could withdraw its names left behind, pointing
     * at ports that other names may get now.
     */
    @Override
    public void reconcile(Set<String> live) {
        worker.cleanUp("remove stale files in " + dir, () -> {
            if (!Files.isDirectory(dir)) {
                return;
            }
            try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "{diglett-*.yml,.diglett-*.tmp}")) {
                for (Path file : files) {
                    String fileName = file.getFileName().toString();
                    if (fileName.startsWith(".")) {
                        Files.deleteIfExists(file); // a write cut short
                        continue;
                    }
                    String name = fileName.substring("diglett-".length(), fileName.length() - ".yml".length());
                    if (live.contains(name)) {
                        continue;
                    }
                    if (!ownedBy(file, name)) {
                        log.info("leaving {} in place: it does not begin with diglett's mark", file);
                        continue;
                    }
                    Files.deleteIfExists(file);
                    log.info("removed {}, left by an earlier run: '{}' is not live", file, name);
                }
            }
        });
    }

    /** Whether {@code file} begins with the mark of a file written for {@code name}. */
    private static boolean ownedBy(Path file, String name) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            String head = new String(in.readNBytes(MARK_BYTES), StandardCharsets.UTF_8);
            return head.startsWith(MARK + name + "'");
        }
    }

    /** Lets the requests made (the unregisters of a shutting-down gateway) run, for a bounded time. */
    @Override
    public void close() {
        worker.close(CLOSE_GRACE);
    }
}
