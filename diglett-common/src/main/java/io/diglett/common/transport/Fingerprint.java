package io.diglett.common.transport;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.Certificate;
import java.security.cert.CertificateEncodingException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Locale;

/**
 * The SHA-256 fingerprint of a certificate, written as ssh writes key fingerprints: {@code SHA256:} and the
 * unpadded base64 of the digest. Parsing also accepts the hex form that {@code openssl x509 -fingerprint
 * -sha256} prints (with or without colons).
 */
public record Fingerprint(byte[] sha256) {

    public Fingerprint {
        if (sha256.length != 32) {
            throw new IllegalArgumentException("a SHA-256 fingerprint has 32 bytes, not " + sha256.length);
        }
        sha256 = sha256.clone();
    }

    /** The fingerprint of a certificate's DER encoding. */
    public static Fingerprint of(Certificate certificate) {
        try {
            return new Fingerprint(MessageDigest.getInstance("SHA-256").digest(certificate.getEncoded()));
        } catch (CertificateEncodingException | NoSuchAlgorithmException e) {
            throw new IllegalStateException("cannot fingerprint certificate", e);
        }
    }

    /** Parses {@code SHA256:base64}, {@code SHA256:hex} or bare hex (colons allowed). */
    public static Fingerprint parse(String text) {
        String value = text.trim();
        if (value.regionMatches(true, 0, "SHA256:", 0, 7)) {
            value = value.substring(7);
        }
        String hex = value.replace(":", "");
        if (hex.length() == 64 && hex.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
            return new Fingerprint(HexFormat.of().parseHex(hex.toLowerCase(Locale.ROOT)));
        }
        try {
            byte[] digest = Base64.getDecoder().decode(value.endsWith("=") ? value : value + "=");
            if (digest.length == 32) {
                return new Fingerprint(digest);
            }
        } catch (IllegalArgumentException ignored) {
            // fall through to the error below
        }
        throw new IllegalArgumentException("'" + text + "' is not a SHA-256 fingerprint (expected SHA256:<base64>"
                + " as the gateway prints it, or 64 hex digits)");
    }

    /** Compares in constant time. */
    public boolean matches(Fingerprint other) {
        return MessageDigest.isEqual(sha256, other.sha256);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Fingerprint f && matches(f);
    }

    @Override
    public int hashCode() {
        return java.util.Arrays.hashCode(sha256);
    }

    @Override
    public String toString() {
        return "SHA256:" + Base64.getEncoder().withoutPadding().encodeToString(sha256);
    }
}
