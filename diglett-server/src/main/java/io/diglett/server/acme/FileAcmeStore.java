package io.diglett.server.acme;

import io.diglett.common.AtomicFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * A single gateway's ACME state, in {@code STATE_DIR/acme/}: {@code account.key}, {@code SUBJECT.crt} and
 * {@code SUBJECT.key} per certificate (a wildcard's subject is written {@code _wildcard.DOMAIN}), and
 * {@code issued}, one line per new certificate. Every file is owner-only and replaced whole
 * ({@link AtomicFiles#write}); gateways that share the directory take turns through file locks. Challenge answers
 * stay in memory: only this process's listener gives them.
 */
public final class FileAcmeStore implements AcmeStore {

    /** Issuances older than this are dropped from the record. */
    static final Duration WINDOW = Duration.ofDays(7);

    private final Path dir;
    private final Map<String, Stored> challenges = new ConcurrentHashMap<>();

    public FileAcmeStore(Path stateDir) {
        this.dir = stateDir.resolve("acme");
    }

    /** The directory of the files. */
    public Path dir() {
        return dir;
    }

    @Override
    public String accountKey(Supplier<String> create) throws IOException {
        Path file = dir.resolve("account.key");
        return AtomicFiles.locked(file, () -> {
            if (Files.exists(file)) {
                return Files.readString(file, StandardCharsets.US_ASCII);
            }
            String pem = create.get();
            AtomicFiles.write(file, pem.getBytes(StandardCharsets.US_ASCII));
            return pem;
        });
    }

    @Override
    public Stored certificate(String subject) throws IOException {
        Path crt = file(subject, ".crt");
        Path key = file(subject, ".key");
        return AtomicFiles.locked(key, () -> {
            try {
                return new Stored(Files.readString(crt, StandardCharsets.US_ASCII),
                        Files.readString(key, StandardCharsets.US_ASCII));
            } catch (NoSuchFileException e) {
                return null;
            }
        });
    }

    @Override
    public void saveCertificate(String subject, Stored stored) throws IOException {
        Path crt = file(subject, ".crt");
        Path key = file(subject, ".key");
        AtomicFiles.locked(key, () -> {
            // the key first: a crash between leaves the old certificate with a key that does not match it, which
            // the next start refuses and orders again, never a certificate served without its key
            AtomicFiles.write(key, stored.keyPem().getBytes(StandardCharsets.US_ASCII));
            AtomicFiles.write(crt, stored.chainPem().getBytes(StandardCharsets.US_ASCII));
            return null;
        });
    }

    @Override
    public List<Issuance> issuances(Instant now) throws IOException {
        Path file = dir.resolve("issued");
        return AtomicFiles.locked(file, () -> read(file, now));
    }

    private static List<Issuance> read(Path file, Instant now) throws IOException {
        List<Issuance> issued = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return issued;
        }
        for (String line : lines) {
            String[] fields = line.split(" ", 3);
            if (fields.length < 3) {
                continue;
            }
            try {
                Instant at = Instant.ofEpochSecond(Long.parseLong(fields[0]));
                if (at.isAfter(now.minus(WINDOW))) {
                    issued.add(new Issuance(at, fields[1], fields[2]));
                }
            } catch (NumberFormatException e) {
                // a line of another format: ignored
            }
        }
        return issued;
    }

    @Override
    public void recordIssuance(Issuance issuance) throws IOException {
        Path file = dir.resolve("issued");
        AtomicFiles.locked(file, () -> {
            StringBuilder text = new StringBuilder();
            List<Issuance> kept = new ArrayList<>(read(file, issuance.at()));
            kept.add(issuance);
            for (Issuance i : kept) {
                text.append(i.at().getEpochSecond()).append(' ').append(i.token()).append(' ').append(i.subject())
                        .append('\n');
            }
            AtomicFiles.write(file, text.toString().getBytes(StandardCharsets.UTF_8));
            return null;
        });
    }

    @Override
    public boolean whileLocked(String subject, IoAction action) throws IOException, InterruptedException {
        try {
            AtomicFiles.locked(file(subject, ".order"), () -> {
                try {
                    action.run();
                } catch (InterruptedException e) {
                    throw new InterruptedIo(e);
                }
                return null;
            });
        } catch (InterruptedIo e) {
            throw (InterruptedException) e.getCause();
        }
        return true;
    }

    @Override
    public void putChallenge(String host, Stored answer) {
        challenges.put(host, answer);
    }

    @Override
    public void removeChallenge(String host) {
        challenges.remove(host);
    }

    @Override
    public CompletableFuture<Stored> challenge(String host) {
        return CompletableFuture.completedFuture(challenges.get(host));
    }

    /** {@code SUBJECT + suffix} in the directory; {@code *.} is written {@code _wildcard.}. */
    private Path file(String subject, String suffix) {
        return dir.resolve(fileName(subject) + suffix);
    }

    /** A subject as a file name: a host name, {@code *.} written {@code _wildcard.}. */
    static String fileName(String subject) {
        return subject.startsWith("*.") ? "_wildcard." + subject.substring(2) : subject;
    }

    /** Carries an interruption through {@link AtomicFiles#locked}. */
    private static final class InterruptedIo extends IOException {
        private static final long serialVersionUID = 1L;

        InterruptedIo(InterruptedException cause) {
            super(cause);
        }
    }
}
