package io.diglett.server.cluster;

import io.diglett.server.config.ClusterSettings;
import io.diglett.protocol.Policy;
import io.diglett.server.link.RemoteHolder;
import io.diglett.server.link.VisitorPolicy;
import java.util.Base64;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.UUID;

/**
 * The value of a name's key {@code /diglett/names/NAME}: who holds it, written by the node whose agent registered
 * it, under that node's lease.
 *
 * <p>Text: a first line {@code diglett-holder 1}, then one {@code key=value} per line ({@code node},
 * {@code token-sha256}, {@code instance}, {@code tls-passthrough}, and with a visitor policy {@code policy}, its text in
 * base64, under the first line {@code diglett-holder 2}). Every field has a fixed shape (a node name, 64 hex digits, a UUID), so
 * a value that does not parse is refused whole; fields of a later version are skipped. The fencing number is not
 * in the value: it is the revision that wrote it (the key's mod revision), which the store assigns.
 */
final class HolderRecord {

    private static final String FIRST_LINE = "diglett-holder 1";
    /**
     * The first line of a record with a visitor policy: a node older than visitor policies in a cluster refuses
     * such a record whole (the name is unknown there: its clients are refused, never let in unchecked).
     */
    private static final String FIRST_LINE_WITH_POLICY = "diglett-holder 2";
    /** Longer values are not ours: refused before they are read (a policy's 4,096 bytes in base64, and the rest). */
    static final int MAX_LENGTH = 8192;

    private HolderRecord() {
    }

    static byte[] encode(String node, byte[] tokenDigest, UUID instance, boolean tlsPassthrough) {
        return encode(node, tokenDigest, instance, tlsPassthrough, Policy.NONE);
    }

    /** With the name's visitor policy in force ({@code policy=} its text in base64), when it has one. */
    static byte[] encode(String node, byte[] tokenDigest, UUID instance, boolean tlsPassthrough, Policy policy) {
        StringBuilder text = new StringBuilder(policy.none() ? FIRST_LINE : FIRST_LINE_WITH_POLICY).append('\n');
        if (!policy.none()) {
            text.append("policy=").append(Base64.getEncoder().encodeToString(policy.text().getBytes(
                    StandardCharsets.UTF_8))).append('\n');
        }
        text.append("node=").append(node).append('\n');
        if (tlsPassthrough) {
            text.append("tls-passthrough=1\n");
        }
        if (tokenDigest != null) {
            text.append("token-sha256=").append(HexFormat.of().formatHex(tokenDigest)).append('\n');
        }
        if (instance != null) {
            text.append("instance=").append(instance).append('\n');
        }
        return text.toString().getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * Reads a value of the store, written at {@code revision}.
     *
     * @throws IllegalArgumentException when it is not a holder record of this version
     */
    static RemoteHolder decode(byte[] value, long revision) {
        if (value.length > MAX_LENGTH) {
            throw new IllegalArgumentException("holder record of " + value.length + " bytes");
        }
        String[] lines = new String(value, StandardCharsets.US_ASCII).split("\n");
        if (lines.length == 0 || !FIRST_LINE.equals(lines[0]) && !FIRST_LINE_WITH_POLICY.equals(lines[0])) {
            throw new IllegalArgumentException("not a holder record");
        }
        String node = null;
        byte[] token = null;
        UUID instance = null;
        boolean passthrough = false;
        Policy policy = Policy.NONE;
        String unreadable = null;
        for (int i = 1; i < lines.length; i++) {
            int eq = lines[i].indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("holder record: line " + i + " has no '='");
            }
            String key = lines[i].substring(0, eq);
            String val = lines[i].substring(eq + 1);
            switch (key) {
                case "node" -> node = ClusterSettings.checkNodeName(val);
                case "token-sha256" -> {
                    if (val.length() != 64) {
                        throw new IllegalArgumentException("holder record: token-sha256 is not 32 bytes of hex");
                    }
                    token = HexFormat.of().parseHex(val);
                }
                case "instance" -> instance = UUID.fromString(val);
                case "tls-passthrough" -> passthrough = "1".equals(val);
                case "policy" -> {
                    try {
                        policy = Policy.parse(new String(Base64.getDecoder().decode(val), StandardCharsets.UTF_8));
                    } catch (IllegalArgumentException e) { // a rule of a later version, say
                        unreadable = e.getMessage();
                    }
                }
                default -> { } // a field of a later version
            }
        }
        if (node == null) {
            throw new IllegalArgumentException("holder record without a node");
        }
        if (FIRST_LINE_WITH_POLICY.equals(lines[0]) && policy.none() && unreadable == null) {
            unreadable = "a version-2 record without its policy";
        }
        // a policy this node cannot read closes the name here (its clients are refused), while the rest of the
        // record still serves the takeover rule
        VisitorPolicy visitors = unreadable != null ? VisitorPolicy.closed(unreadable)
                : policy.none() ? VisitorPolicy.OPEN : new VisitorPolicy(policy, System::nanoTime);
        return new RemoteHolder(node, token, instance, revision, passthrough, visitors);
    }
}
