package io.diglett.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.common.HostPort;
import java.net.UnknownHostException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The order the agent dials its gateways in: each given, in turn, and the next one after a loss. */
class GatewayTargetsTest {

    @Test
    void theGatewaysAreTriedInTurnAndTheFirstAgainAfterTheLast() throws Exception {
        GatewayTargets targets = new GatewayTargets(List.of(new HostPort("127.0.0.2", 20000),
                new HostPort("127.0.0.3", 20001), new HostPort("127.0.0.4", 20002)));
        GatewayTargets.Target first = targets.use(targets.resolve());
        assertEquals("127.0.0.2:20000", first.toString());
        assertTrue(targets.advance());
        assertEquals("127.0.0.3:20001", targets.current().toString());
        assertTrue(targets.advance());
        assertTrue(targets.advance());
        assertEquals(first, targets.current(), "after the last, the first");
    }

    @Test
    void aNewResolutionKeepsTheAgentWhereItIs() throws Exception {
        GatewayTargets targets = new GatewayTargets(List.of(new HostPort("127.0.0.2", 1), new HostPort("127.0.0.3",
                2)));
        targets.use(targets.resolve());
        targets.advance();
        assertEquals("127.0.0.3:2", targets.use(targets.resolve()).toString(), "no jump back to the first");
    }

    @Test
    void oneGatewayWithOneAddressHasNoNext() throws Exception {
        GatewayTargets targets = new GatewayTargets(List.of(new HostPort("127.0.0.1", 20000)));
        targets.use(targets.resolve());
        assertFalse(targets.advance());
        assertEquals("127.0.0.1:20000", targets.current().toString());
    }

    @Test
    void aNameThatDoesNotResolveIsLeftOutWhileAnotherDoes() throws Exception {
        GatewayTargets targets = new GatewayTargets(List.of(new HostPort("nope.invalid", 1),
                new HostPort("127.0.0.1", 2)));
        assertEquals(1, targets.resolve().size());
        GatewayTargets none = new GatewayTargets(List.of(new HostPort("nope.invalid", 1)));
        UnknownHostException failed = assertThrows(UnknownHostException.class, none::resolve);
        assertEquals("cannot resolve gateway host 'nope.invalid'", failed.getMessage());
    }

    @Test
    void aHostNameWithSeveralAddressesGivesEachAsATarget() throws Exception {
        // localhost resolves to 127.0.0.1 and, where IPv6 is configured, ::1: one target per address
        GatewayTargets targets = new GatewayTargets(List.of(new HostPort("localhost", 20000)));
        List<GatewayTargets.Target> all = targets.resolve();
        assertEquals(java.net.InetAddress.getAllByName("localhost").length, all.size());
        for (GatewayTargets.Target target : all) {
            assertEquals("localhost", target.gateway().host(), "the TLS server name stays the name given");
        }
    }
}
