package io.diglett.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonReaderTest {

    @Test
    void readsWhatTheWriterWritesAndCaddysConfiguration() {
        String written = new Json().beginObject().name("a<b").value("x\"\n\u0001&").name("n").value(42)
                .name("list").beginArray().value(true).endArray().endObject().toString();
        Map<String, Object> expected = new LinkedHashMap<>();
        expected.put("a<b", "x\"\n\u0001&");
        expected.put("n", 42.0);
        expected.put("list", List.of(true));
        assertEquals(expected, JsonReader.parse(written));

        Object routes = JsonReader.parse(" [ {\"@id\":\"diglett-a\",\"match\":[{\"host\":[\"a.gw.test\"]}],"
                + "\"terminal\":true,\"x\":null,\"w\":-1.5e3, \"s\":\"\\/\\u00e9\"} , {} ]\n");
        Map<String, Object> first = new LinkedHashMap<>();
        first.put("@id", "diglett-a");
        first.put("match", List.of(Map.of("host", List.of("a.gw.test"))));
        first.put("terminal", true);
        first.put("x", null);
        first.put("w", -1500.0);
        first.put("s", "/\u00e9");
        assertEquals(List.of(first, Map.of()), routes);
        assertNull(JsonReader.parse("null"));
    }

    @Test
    void badDocumentsAreClearErrorsAndNestingIsBounded() {
        Object[][] cases = {
            {"", "invalid JSON at offset 0: the document ends where a value should be"},
            {"[1,]", "invalid JSON at offset 3: unexpected ']'"},
            {"{\"a\" 1}", "invalid JSON at offset 5: ':' should be here"},
            {"\"a\u0001\"", "invalid JSON at offset 3: a control character inside a string"},
            {"[1] x", "invalid JSON at offset 4: text after the value"},
            {"01", "invalid JSON at offset 0: not a number"},
            {"[tru]", "invalid JSON at offset 1: unexpected 't'"},
        };
        for (Object[] c : cases) {
            var e = assertThrows(IllegalArgumentException.class, () -> JsonReader.parse((String) c[0]));
            assertEquals(c[1], e.getMessage(), (String) c[0]);
        }
        char[] deep = new char[100_000];
        Arrays.fill(deep, '[');
        var e = assertThrows(IllegalArgumentException.class, () -> JsonReader.parse(new String(deep)));
        assertEquals("invalid JSON at offset 256: nested deeper than 256 levels", e.getMessage());
    }
}
