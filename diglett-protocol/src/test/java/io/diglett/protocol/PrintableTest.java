package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** What a peer's text looks like in a log line: escaped, and bounded in length with a marker. */
class PrintableTest {

    @Test
    void shortSafeTextIsKeptAsItIs() {
        String text = "backend 127.0.0.1:9 unreachable: Connexion refusée";
        assertSame(text, Printable.of(text));
        String exactly = "x".repeat(Printable.MAX_LENGTH);
        assertSame(exactly, Printable.of(exactly), "the bound itself is not cut");
        assertEquals("null", Printable.of(null));
    }

    @Test
    void controlsLineBreaksAndBidiOverridesAreEscaped() {
        assertEquals("a\\u000d\\u000aregister domain 'bank' -> '443'\\u001b[2J\\u202e\\u0085",
                Printable.of("a\r\nregister domain 'bank' -> '443'\u001b[2J\u202e\u0085"));
    }

    @Test
    void longTextIsCutAtTheBoundWithAMarkerSayingHowMuchWasLeftOut() {
        String cut = Printable.of("y".repeat(1000));
        assertEquals("y".repeat(Printable.MAX_LENGTH) + "\u2026(+744)", cut);
    }

    @Test
    void escapesCountAgainstTheBoundAndAreNeverSplit() {
        String cut = Printable.of("\n".repeat(100));
        int kept = Printable.MAX_LENGTH / 6; // each escape is six characters
        assertEquals("\\u000a".repeat(kept) + "\u2026(+" + (100 - kept) + ")", cut);
        assertTrue(cut.length() <= Printable.MAX_LENGTH + 10);
    }

    @Test
    void aSurrogatePairIsNeverSplit() {
        String text = "z".repeat(Printable.MAX_LENGTH - 1) + "\uD83D\uDE00" + "tail";
        assertEquals("z".repeat(Printable.MAX_LENGTH - 1) + "\u2026(+6)", Printable.of(text));
    }
}
