package io.diglett.common.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TransportTest {

    private static final String LOW_MEMORY = "io.netty.allocator.lowMemory";
    private static final String SAMPLING = "io.netty.leakDetection.samplingInterval";
    private static final String JFR = "io.netty.jfr.enabled";
    private static final String[] SAVED = {LOW_MEMORY, SAMPLING, JFR, Transport.PROPERTY};

    private final Map<String, String> saved = new java.util.HashMap<>();

    @BeforeEach
    void save() {
        for (String key : SAVED) {
            saved.put(key, System.getProperty(key));
            System.clearProperty(key);
        }
    }

    @AfterEach
    void restore() {
        saved.forEach((key, value) -> {
            if (value == null) {
                System.clearProperty(key);
            } else {
                System.setProperty(key, value);
            }
        });
    }

    @Test
    void theProgramsDefaultsApplyWhenNothingIsSet() {
        Transport.applyNettyDefaults();

        assertEquals("false", System.getProperty(LOW_MEMORY));
        assertEquals("1024", System.getProperty(SAMPLING));
        assertEquals("false", System.getProperty(JFR));
    }

    @Test
    void aValueGivenWithDashDIsKept() {
        System.setProperty(LOW_MEMORY, "true");
        System.setProperty(SAMPLING, "1");
        System.setProperty(JFR, "true");

        Transport.applyNettyDefaults();

        assertEquals("true", System.getProperty(LOW_MEMORY));
        assertEquals("1", System.getProperty(SAMPLING));
        assertEquals("true", System.getProperty(JFR));
    }

    @Test
    void theTransportAskedForIsUsedWhereItLoadsAndTheBestOtherwise() {
        List<Transport> available = Transport.available();
        assertEquals(Transport.NIO, available.get(available.size() - 1), "NIO loads everywhere, last");
        assertEquals(available.get(0), Transport.best(), "nothing asked: the best");
        for (Transport transport : available) {
            System.setProperty(Transport.PROPERTY, transport.label().toUpperCase(java.util.Locale.ROOT));
            assertEquals(transport, Transport.best());
        }
        System.setProperty(Transport.PROPERTY, "kqueue");
        assertEquals(available.get(0), Transport.best(), "one that does not load here: the best");
        assertEquals(List.of("io_uring", "epoll", "nio"),
                java.util.Arrays.stream(Transport.values()).map(Transport::label).toList());
    }

    @Test
    void aTransportAskedForThatIsNotUsedIsNamedWithTheOneUsed() {
        Transport best = Transport.available().get(0);
        assertEquals(java.util.Optional.empty(), Transport.askedButUnavailable(), "nothing asked");
        System.setProperty(Transport.PROPERTY, best.label());
        assertEquals(java.util.Optional.empty(), Transport.askedButUnavailable(), "asked and used");

        System.setProperty(Transport.PROPERTY, "kqueue");

        assertEquals(java.util.Optional.of("-Ddiglett.transport=kqueue: no such transport (io_uring, epoll or nio); "
                + "using " + best.label()), Transport.askedButUnavailable());

        System.setProperty(Transport.PROPERTY, "epoll\nFORGED line");

        assertEquals(java.util.Optional.of("-Ddiglett.transport=epoll\\u000aFORGED line: no such transport (io_uring, "
                + "epoll or nio); using " + best.label()), Transport.askedButUnavailable(), "escaped for the log");
    }
}
