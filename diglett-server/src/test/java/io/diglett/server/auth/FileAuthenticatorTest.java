package io.diglett.server.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A token's principal, which the admin endpoint's /api/tunnels shows, is an opaque id of this gateway's:
 * not the token's SHA-256 (an offline guess could test it), the same for the same token while the gateway
 * runs (also across a re-read), another one on another gateway.
 */
class FileAuthenticatorTest {

    @TempDir
    Path temp;

    @Test
    void principalsAreOpaquePerGatewayIds() throws Exception {
        Path file = temp.resolve("tokens");
        String alice = "alice-secret-token";
        String bob = "sha256:" + HexFormat.of().formatHex(TokenFile.sha256("bob-secret-token"));
        Files.writeString(file, alice + " alice-*\n" + bob + " bob\n");
        try (FileAuthenticator one = FileAuthenticator.start(file, Duration.ofHours(1));
             FileAuthenticator two = FileAuthenticator.start(file, Duration.ofHours(1))) {
            String principal = one.authenticate(alice);
            assertTrue(principal.matches("token-[0-9a-f]{24}"), principal);
            String digest = HexFormat.of().formatHex(TokenFile.sha256(alice));
            assertFalse(digest.contains(principal.substring(6, 14)), "nothing of the token's digest: " + principal);
            assertEquals(principal, one.authenticate(alice), "stable while the gateway runs");
            assertNotEquals(principal, one.authenticate("bob-secret-token"));
            assertNotEquals(principal, two.authenticate(alice), "another gateway, another id");

            one.authorize(principal, "alice-web");
            assertThrows(AccessDeniedException.class, () -> one.authorize(principal, "bob"));
            assertThrows(AccessDeniedException.class, () -> one.authorize("sha256:" + digest, "alice-web"));

            Files.writeString(file, "# edited\n" + alice + " alice-* extra\n");
            one.reload();
            assertEquals(principal, one.authenticate(alice), "the same id after a re-read");
            one.authorize(principal, "extra");
        }
    }
}
