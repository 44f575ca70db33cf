package io.diglett.common.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.diglett.protocol.Protocol;
import org.junit.jupiter.api.Test;

class SizesTest {

    private static String problem(String text) {
        return assertThrows(IllegalArgumentException.class, () -> Sizes.parse(text)).getMessage();
    }

    private static String windowProblem(String text) {
        return assertThrows(IllegalArgumentException.class, () -> Sizes.window(text)).getMessage();
    }

    @Test
    void plainBytes() {
        assertEquals(65536, Sizes.parse("65536"));
        assertEquals(0, Sizes.parse("0"));
        assertEquals(100, Sizes.parse(" 100 "));
        assertEquals(100, Sizes.parse("100b"));
    }

    @Test
    void suffixesArePowersOf1024InAnyCase() {
        assertEquals(256 * 1024, Sizes.parse("256k"));
        assertEquals(256 * 1024, Sizes.parse("256K"));
        assertEquals(256 * 1024, Sizes.parse("256kb"));
        assertEquals(1 << 20, Sizes.parse("1m"));
        assertEquals(1 << 20, Sizes.parse("1MB"));
        assertEquals(3L << 30, Sizes.parse("3g"));
    }

    @Test
    void negative() {
        assertEquals("'-1' is negative", problem("-1"));
        assertEquals("'-4k' is negative", problem("-4k"));
    }

    @Test
    void garbage() {
        String expected = " is not a size (examples: 65536, 256k, 1m)";
        assertEquals("'garbage'" + expected, problem("garbage"));
        assertEquals("''" + expected, problem(""));
        assertEquals("'k'" + expected, problem("k"));
        assertEquals("'1.5m'" + expected, problem("1.5m"));
        assertEquals("'1t'" + expected, problem("1t"));
        assertEquals("'1 k'" + expected, problem("1 k"));
        assertEquals("'9999999999999g'" + expected, problem("9999999999999g"), "overflow");
    }

    @Test
    void windowBounds() {
        assertEquals(Protocol.MIN_WINDOW, Sizes.window("65535"));
        assertEquals(65536, Sizes.window("64k"));
        assertEquals(Protocol.DEFAULT_WINDOW, Sizes.window("256k"));
        assertEquals(Integer.MAX_VALUE, Sizes.window("2147483647"));

        assertEquals("window '65534' must be between 65535 and 2147483647 bytes", windowProblem("65534"));
        assertEquals("window '2g' must be between 65535 and 2147483647 bytes", windowProblem("2g"));
        assertEquals("window '0' must be between 65535 and 2147483647 bytes", windowProblem("0"));
        assertEquals("'-1m' is negative", windowProblem("-1m"));
        assertEquals("'big' is not a size (examples: 65536, 256k, 1m)", windowProblem("big"));
    }
}
