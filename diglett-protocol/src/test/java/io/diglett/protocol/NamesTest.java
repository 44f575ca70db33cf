package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class NamesTest {

    @Test
    void validNames() {
        assertNull(Names.problem("web"));
        assertNull(Names.problem("a"));
        assertNull(Names.problem("0"));
        assertNull(Names.problem("my-app-2"));
        assertNull(Names.problem("a--b"));
        assertNull(Names.problem("x".repeat(Names.MAX_LENGTH)));
    }

    @Test
    void emptyOrMissing() {
        assertEquals("name is empty", Names.problem(""));
        assertEquals("name is empty", Names.problem(null));
    }

    @Test
    void tooLong() {
        String name = "x".repeat(Names.MAX_LENGTH + 1);
        assertEquals("name '" + name + "' is longer than 63 characters", Names.problem(name));
    }

    @Test
    void charactersOutsideTheLabelAlphabet() {
        assertEquals("name 'Web' is not a DNS label: only a-z, 0-9 and '-' are allowed", Names.problem("Web"));
        assertEquals("name 'a.b' is not a DNS label: only a-z, 0-9 and '-' are allowed", Names.problem("a.b"));
        assertEquals("name 'a_b' is not a DNS label: only a-z, 0-9 and '-' are allowed", Names.problem("a_b"));
        assertEquals("name 'a b' is not a DNS label: only a-z, 0-9 and '-' are allowed", Names.problem("a b"));
    }

    @Test
    void nonPrintableCharactersAreEscapedInTheReason() {
        assertEquals("name 'a\\u000ab' is not a DNS label: only a-z, 0-9 and '-' are allowed",
                Names.problem("a\nb"));
        assertEquals("name 'caf\\u00e9' is not a DNS label: only a-z, 0-9 and '-' are allowed",
                Names.problem("café"));
    }

    @Test
    void hyphenAtEitherEnd() {
        assertEquals("name '-web' must not start or end with '-'", Names.problem("-web"));
        assertEquals("name 'web-' must not start or end with '-'", Names.problem("web-"));
        assertEquals("name '-' must not start or end with '-'", Names.problem("-"));
    }
}
