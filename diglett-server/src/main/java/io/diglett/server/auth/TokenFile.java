package io.diglett.server.auth;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A parsed token file: one line per token, the token itself or {@code sha256:} and its hex digest, then the
 * name patterns it may register ({@code example}, {@code team-*}, {@code *}), then optionally the operator's
 * visitor policy for its names as {@code RULE=VALUE} fields ({@code allow-cidr=10.0.0.0/8}, {@code deny-cidr=...},
 * {@code rate-limit=20/s}; docs/policy.md), which narrows what its agents ask for. {@code #} starts a comment.
 * Only the SHA-256 of each token is kept in memory.
 */
public final class TokenFile {

    /** One token line. */
    record Entry(byte[] sha256, List<String> patterns, io.diglett.protocol.Policy policy, int line) {
        boolean allows(String name) {
            for (String pattern : patterns) {
                if (glob(pattern, name)) {
                    return true;
                }
            }
            return false;
        }
    }

    private static final Pattern PATTERN_CHARS = Pattern.compile("[a-z0-9*.-]+");

    private final List<Entry> entries;
    private final List<String> warnings;

    private TokenFile(List<Entry> entries, List<String> warnings) {
        this.entries = List.copyOf(entries);
        this.warnings = List.copyOf(warnings);
    }

    List<Entry> entries() {
        return entries;
    }

    /** Lines that parse but cannot do what they seem to (a pattern that can never match). */
    List<String> warnings() {
        return warnings;
    }

    static TokenFile read(Path file) throws IOException {
        return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
    }

    /** Parses the text of a token file; {@code origin} names it in error messages. */
    static TokenFile parse(String text, String origin) {
        List<Entry> entries = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        String[] lines = text.split("\r?\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            int hash = line.indexOf('#');
            if (hash >= 0) {
                line = line.substring(0, hash);
            }
            line = line.strip();
            if (line.isEmpty()) {
                continue;
            }
            String[] fields = line.split("\\s+");
            int lineNo = i + 1;
            if (fields.length < 2) {
                throw new IllegalArgumentException(origin + ":" + lineNo + ": expected a token and at least one name"
                        + " pattern");
            }
            byte[] digest = tokenDigest(fields[0], origin, lineNo);
            for (Entry entry : entries) {
                if (MessageDigest.isEqual(entry.sha256(), digest)) {
                    throw new IllegalArgumentException(origin + ":" + lineNo + ": the same token as line "
                            + entry.line());
                }
            }
            List<String> patterns = new ArrayList<>();
            StringBuilder policy = new StringBuilder();
            for (int f = 1; f < fields.length; f++) {
                String pattern = fields[f];
                int equals = pattern.indexOf('=');
                if (equals > 0) {
                    policy.append(pattern, 0, equals).append(' ').append(pattern.substring(equals + 1)).append('\n');
                    continue;
                }
                if (!PATTERN_CHARS.matcher(pattern).matches()) {
                    throw new IllegalArgumentException(origin + ":" + lineNo + ": name pattern '" + pattern
                            + "' may hold only a-z, 0-9, '-' and '*'");
                }
                if (pattern.indexOf('.') >= 0) {
                    warnings.add(origin + ":" + lineNo + ": pattern '" + pattern + "' can never match: names are"
                            + " single DNS labels without dots (try '" + pattern.replace('.', '-') + "')");
                }
                patterns.add(pattern);
            }
            if (patterns.isEmpty()) {
                throw new IllegalArgumentException(origin + ":" + lineNo + ": expected a token and at least one name"
                        + " pattern");
            }
            io.diglett.protocol.Policy operator;
            try {
                operator = io.diglett.protocol.Policy.parse(policy.toString());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(origin + ":" + lineNo + ": " + e.getMessage()
                        .replace(" (this gateway enforces", " (known:").replace("): upgrade the gateway", ")"));
            }
            entries.add(new Entry(digest, patterns, operator, lineNo));
        }
        return new TokenFile(entries, warnings);
    }

    private static byte[] tokenDigest(String field, String origin, int line) {
        if (field.regionMatches(true, 0, "sha256:", 0, 7)) {
            String hex = field.substring(7);
            if (hex.length() != 64 || !hex.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
                throw new IllegalArgumentException(origin + ":" + line + ": sha256: must be followed by 64 hex digits");
            }
            return HexFormat.of().parseHex(hex.toLowerCase(Locale.ROOT));
        }
        return sha256(field);
    }

    public static byte[] sha256(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Glob match: {@code *} stands for any run of characters, everything else for itself. */
    static boolean glob(String pattern, String name) {
        int p = 0;
        int n = 0;
        int star = -1;
        int mark = 0;
        while (n < name.length()) {
            if (p < pattern.length() && pattern.charAt(p) == name.charAt(n)) {
                p++;
                n++;
            } else if (p < pattern.length() && pattern.charAt(p) == '*') {
                star = p++;
                mark = n;
            } else if (star >= 0) {
                p = star + 1;
                n = ++mark;
            } else {
                return false;
            }
        }
        while (p < pattern.length() && pattern.charAt(p) == '*') {
            p++;
        }
        return p == pattern.length();
    }
}
