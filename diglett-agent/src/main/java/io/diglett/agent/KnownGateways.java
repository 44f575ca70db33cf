package io.diglett.agent;

import io.diglett.common.AtomicFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The trust-on-first-use file, like ssh's known_hosts: one line per gateway, {@code host:port SHA256:...}, or
 * {@code host:port ca} for a gateway whose certificate chained to the system trust store (from then on it must
 * keep doing so). Lines starting with {@code #} are comments. Every change is made under a lock
 * ({@link AtomicFiles#locked}), so agents sharing the file do not lose each other's lines, and replaces the file
 * whole ({@link AtomicFiles#write}), so a reader never sees half a line.
 */
final class KnownGateways {

    /** Marks a gateway verified through the system trust store. */
    static final String CA = "ca";

    private static final String HEADER = "# Gateways this diglett agent trusts: host:port, then the SHA-256"
            + " fingerprint of its certificate, or 'ca' when it is verified by the system trust store."
            + " Forget one with: diglett trust forget HOST:PORT";

    private final Path file;

    KnownGateways(Path file) {
        this.file = file;
    }

    Path file() {
        return file;
    }

    /** What is recorded for {@code gateway}: {@code SHA256:...}, {@link #CA}, or {@code null}. */
    String get(String gateway) throws IOException {
        for (String line : lines()) {
            String recorded = valueOf(line, gateway);
            if (recorded != null) {
                return recorded;
            }
        }
        return null;
    }

    private List<String> lines() throws IOException {
        return Files.exists(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : List.of();
    }

    /** The value {@code line} records for {@code gateway}, or {@code null} if it is about another or a comment. */
    private static String valueOf(String line, String gateway) {
        String[] fields = line.strip().split("\\s+");
        return fields.length >= 2 && !fields[0].startsWith("#") && key(fields[0]).equals(key(gateway))
                ? fields[1] : null;
    }

    /**
     * The form a gateway is recorded and looked up in: the host in lower case without trailing dots, an IPv6
     * address in its canonical text ({@code [::1]}), then the port. {@code GW.example.com.:20000} and
     * {@code gw.example.com:20000} are one gateway to DNS, so they must be one record: a spelling that missed the
     * record would have let any certificate a CA signs for the host through.
     */
    static String key(String gateway) {
        int colon = gateway.lastIndexOf(':');
        String host = colon > 0 ? gateway.substring(0, colon) : gateway;
        String port = colon > 0 ? gateway.substring(colon) : "";
        if (host.startsWith("[") && host.endsWith("]")) {
            String literal = host.substring(1, host.length() - 1);
            byte[] address = io.netty.util.NetUtil.createByteArrayFromIpAddressString(literal);
            return "[" + (address == null ? literal.toLowerCase(java.util.Locale.ROOT)
                    : io.netty.util.NetUtil.bytesToIpAddress(address)) + "]" + port;
        }
        String lower = host.toLowerCase(java.util.Locale.ROOT);
        while (lower.endsWith(".") && lower.length() > 1) {
            lower = lower.substring(0, lower.length() - 1);
        }
        return lower + port;
    }

    /**
     * Records {@code value} for {@code gateway} unless the file already has a line for it, and returns what the
     * file records for it now: {@code value}, or what another agent recorded first.
     */
    String add(String gateway, String value) throws IOException {
        return AtomicFiles.locked(file, () -> {
            String recorded = get(gateway);
            if (recorded != null) {
                return recorded; // another agent recorded it meanwhile
            }
            List<String> lines = new ArrayList<>(lines());
            if (lines.isEmpty()) {
                lines.add(HEADER);
            }
            lines.add(key(gateway) + " " + value);
            write(lines);
            return value;
        });
    }

    /** Removes every line for {@code gateway} and returns what they recorded (empty: there was none). */
    List<String> forget(String gateway) throws IOException {
        return AtomicFiles.locked(file, () -> {
            List<String> kept = new ArrayList<>();
            List<String> forgotten = new ArrayList<>();
            for (String line : lines()) {
                String recorded = valueOf(line, gateway);
                if (recorded == null) {
                    kept.add(line);
                } else {
                    forgotten.add(recorded);
                }
            }
            if (!forgotten.isEmpty()) {
                write(kept);
            }
            return forgotten;
        });
    }

    private void write(List<String> lines) throws IOException {
        StringBuilder text = new StringBuilder();
        for (String line : lines) {
            text.append(line).append('\n');
        }
        AtomicFiles.write(file, text.toString().getBytes(StandardCharsets.UTF_8));
    }
}
