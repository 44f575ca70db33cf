package io.diglett.common.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TransportTest {

    private static final String LOW_MEMORY = "io.netty.allocator.lowMemory";
    private static final String SAMPLING = "io.netty.leakDetection.samplingInterval";

    private final Map<String, String> saved = new java.util.HashMap<>();

    @BeforeEach
    void save() {
        for (String key : new String[] {LOW_MEMORY, SAMPLING}) {
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
    }

    @Test
    void aValueGivenWithDashDIsKept() {
        System.setProperty(LOW_MEMORY, "true");
        System.setProperty(SAMPLING, "1");

        Transport.applyNettyDefaults();

        assertEquals("true", System.getProperty(LOW_MEMORY));
        assertEquals("1", System.getProperty(SAMPLING));
    }
}
