package io.diglett.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.diglett.protocol.Protocol;
import org.junit.jupiter.api.Test;

class HostPortTest {

    private static String problem(String text, int defaultPort) {
        return assertThrows(IllegalArgumentException.class, () -> HostPort.parse(text, defaultPort)).getMessage();
    }

    @Test
    void hostAndPort() {
        assertEquals(new HostPort("example.com", 8080), HostPort.parse("example.com:8080", -1));
        assertEquals(new HostPort("127.0.0.1", 0), HostPort.parse("127.0.0.1:0", -1));
        assertEquals(new HostPort("h", 65535), HostPort.parse("h:65535", -1));
    }

    @Test
    void bracketedIpv6() {
        HostPort hp = HostPort.parse("[::1]:9000", -1);
        assertEquals(new HostPort("::1", 9000), hp);
        assertEquals("[::1]:9000", hp.toString());
        assertEquals(new HostPort("2001:db8::7", 443), HostPort.parse("[2001:db8::7]", 443));
    }

    @Test
    void defaultPortWhenTheTextHasNone() {
        assertEquals(new HostPort("gateway.example", Protocol.DEFAULT_GATEWAY_PORT),
                HostPort.parse("gateway.example", Protocol.DEFAULT_GATEWAY_PORT));
        assertEquals(new HostPort("gateway.example", 1), HostPort.parse("gateway.example:1", 20000),
                "an explicit port wins over the default");
    }

    @Test
    void missingPortWhenRequired() {
        assertEquals("'example.com': missing port, expected HOST:PORT", problem("example.com", -1));
        assertEquals("'[::1]': missing port, expected HOST:PORT", problem("[::1]", -1));
    }

    @Test
    void badPortNumbers() {
        assertEquals("'h:http': port 'http' is not a number", problem("h:http", -1));
        assertEquals("'h:': port '' is not a number", problem("h:", 80));
        assertEquals("'[::1]:x': port 'x' is not a number", problem("[::1]:x", -1));
        assertEquals("port 65536 is out of range 0-65535", problem("h:65536", -1));
        assertEquals("port -1 is out of range 0-65535", problem("h:-1", -1));
    }

    @Test
    void unbracketedIpv6IsRefused() {
        assertEquals("'::1:9000': write an IPv6 address in brackets, [::1]:9000", problem("::1:9000", -1));
        assertEquals("'fe80::1': write an IPv6 address in brackets, [::1]:9000", problem("fe80::1", 80));
    }

    @Test
    void malformedBrackets() {
        assertEquals("'[::1:9000': missing ']' after the IPv6 address", problem("[::1:9000", -1));
        assertEquals("'[::1]9000': expected ':' after ']'", problem("[::1]9000", -1));
    }

    @Test
    void missingHost() {
        assertEquals("':80': missing host", problem(":80", -1));
        assertEquals("'[]:80': missing host", problem("[]:80", -1));
        assertEquals("expected HOST:PORT, got an empty value", problem("", 80));
        assertEquals("expected HOST:PORT, got an empty value", problem("  ", 80));
        assertEquals("expected HOST:PORT, got an empty value", problem(null, 80));
    }

    @Test
    void constructorChecks() {
        assertEquals("missing host", assertThrows(IllegalArgumentException.class,
                () -> new HostPort("", 80)).getMessage());
        assertEquals("port 70000 is out of range 0-65535", assertThrows(IllegalArgumentException.class,
                () -> new HostPort("h", 70000)).getMessage());
        assertEquals("localhost:80", new HostPort("localhost", 80).toString());
    }
}
