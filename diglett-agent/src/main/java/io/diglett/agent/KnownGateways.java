package io.diglett.agent;

import io.diglett.protocol.Fingerprint;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The trust-on-first-use file, like ssh's known_hosts: one line per gateway, {@code host:port SHA256:...}.
 * Lines starting with {@code #} are comments.
 */
final class KnownGateways {

    private final Path file;

    KnownGateways(Path file) {
        this.file = file;
    }

    Path file() {
        return file;
    }

    /** The recorded fingerprint of {@code gateway}, or {@code null}. */
    synchronized Fingerprint get(String gateway) throws IOException {
        if (!Files.exists(file)) {
            return null;
        }
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            String[] fields = line.strip().split("\\s+");
            if (fields.length >= 2 && !fields[0].startsWith("#") && fields[0].equals(gateway)) {
                return Fingerprint.parse(fields[1]);
            }
        }
        return null;
    }

    /** Records {@code fingerprint} for {@code gateway}, keeping every other line. */
    synchronized void add(String gateway, Fingerprint fingerprint) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        List<String> lines = Files.exists(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : new ArrayList<>();
        if (lines.isEmpty()) {
            lines.add("# Gateways this diglett agent trusts: host:port and the SHA-256 fingerprint of its certificate.");
        }
        lines.add(gateway + " " + fingerprint);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.write(tmp, lines, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
