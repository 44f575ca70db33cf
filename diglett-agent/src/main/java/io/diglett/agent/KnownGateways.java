package io.diglett.agent;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The trust-on-first-use file, like ssh's known_hosts: one line per gateway, {@code host:port SHA256:...}, or
 * {@code host:port ca} for a gateway whose certificate chained to the system trust store (from then on it must
 * keep doing so). Lines starting with {@code #} are comments. Writers take a file lock, so agents sharing the
 * file do not lose each other's lines.
 */
final class KnownGateways {

    private final Path file;

    KnownGateways(Path file) {
        this.file = file;
    }

    Path file() {
        return file;
    }

    /** What is recorded for {@code gateway}: {@code SHA256:...}, {@link #CA}, or {@code null}. */
    String get(String gateway) throws IOException {
        if (!Files.exists(file)) {
            return null;
        }
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            String[] fields = line.strip().split("\\s+");
            if (fields.length >= 2 && !fields[0].startsWith("#") && fields[0].equals(gateway)) {
                return fields[1];
            }
        }
        return null;
    }

    /** Marks a gateway verified through the system trust store. */
    static final String CA = "ca";

    /** Records {@code value} for {@code gateway} unless the file already has a line for it. */
    @SuppressWarnings("try") // the lock is held for the body, never referenced in it
    void add(String gateway, String value) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        try (FileChannel lock = FileChannel.open(dir.resolve(file.getFileName() + ".lock"),
                StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock held = lock.lock()) {
            if (get(gateway) != null) {
                return; // another agent recorded it meanwhile
            }
            List<String> lines = Files.exists(file) ? new ArrayList<>(Files.readAllLines(file, StandardCharsets.UTF_8))
                    : new ArrayList<>();
            if (lines.isEmpty()) {
                lines.add("# Gateways this diglett agent trusts: host:port, then the SHA-256 fingerprint of its"
                        + " certificate, or 'ca' when it is verified by the system trust store.");
            }
            lines.add(gateway + " " + value);
            Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
            Files.write(tmp, lines, StandardCharsets.UTF_8);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }
}
