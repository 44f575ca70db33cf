package io.diglett.server.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Parsing and matching of the token file. */
class TokenFileTest {

    @Test
    void parsesTokensHashesPatternsAndComments() {
        String hash = HexFormat.of().formatHex(TokenFile.sha256("hashed-token"));
        TokenFile file = TokenFile.parse("""
                # operators
                alice-token   example team-*   # alice's tunnels

                sha256:%s  *
                """.formatted(hash.toUpperCase()), "tokens");
        assertEquals(2, file.entries().size());
        TokenFile.Entry alice = file.entries().get(0);
        assertArrayEquals(TokenFile.sha256("alice-token"), alice.sha256());
        assertEquals(List.of("example", "team-*"), alice.patterns());
        assertEquals(2, alice.line());
        assertTrue(alice.allows("example") && alice.allows("team-a") && alice.allows("team-"));
        assertFalse(alice.allows("examples") || alice.allows("ateam-a"));
        assertArrayEquals(TokenFile.sha256("hashed-token"), file.entries().get(1).sha256());
        assertTrue(file.entries().get(1).allows("anything"));
        assertTrue(file.warnings().isEmpty());
    }

    @Test
    void globMatching() {
        assertTrue(TokenFile.glob("*", ""));
        assertTrue(TokenFile.glob("a*b*c", "a-b-x-c"));
        assertTrue(TokenFile.glob("*-team", "red-team"));
        assertFalse(TokenFile.glob("*-team", "red-teams"));
        assertFalse(TokenFile.glob("a*b", "a-c"));
        assertTrue(TokenFile.glob("**x", "x"));
    }

    @Test
    void aPatternWithADotParsesWithAWarningThatItCannotMatch() {
        TokenFile file = TokenFile.parse("token *.team\n", "tokens");
        assertEquals(1, file.warnings().size());
        assertTrue(file.warnings().get(0).contains("tokens:1: pattern '*.team' can never match"),
                file.warnings().get(0));
        assertFalse(file.entries().get(0).allows("x-team"));
    }

    @Test
    void errorsNameTheLine() {
        assertEquals("f:2: expected a token and at least one name pattern",
                assertThrows(IllegalArgumentException.class, () -> TokenFile.parse("a x\nlonely\n", "f")).getMessage());
        assertEquals("f:1: sha256: must be followed by 64 hex digits",
                assertThrows(IllegalArgumentException.class, () -> TokenFile.parse("sha256:abc x", "f")).getMessage());
        assertEquals("f:1: name pattern 'Bad_Name' may hold only a-z, 0-9, '-' and '*'",
                assertThrows(IllegalArgumentException.class, () -> TokenFile.parse("t Bad_Name", "f")).getMessage());
        assertEquals("f:2: the same token as line 1",
                assertThrows(IllegalArgumentException.class, () -> TokenFile.parse("t a\nt b", "f")).getMessage());
    }
}
