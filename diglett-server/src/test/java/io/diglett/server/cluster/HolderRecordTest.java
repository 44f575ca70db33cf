package io.diglett.server.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.Policy;
import io.diglett.server.link.RemoteHolder;
import io.diglett.server.link.VisitorPolicy;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The holder record carries a name's visitor policy to the other nodes, and marks itself so that old nodes refuse it. */
class HolderRecordTest {

    @Test
    void aPolicyTravelsUnderTheSecondVersionAndAnOpenNameStaysOnTheFirst() {
        Policy policy = Policy.parse("allow-cidr 10.0.0.0/8\nrate-limit 20\nresponse-header X-Frame-Options: DENY\n"
                + "oidc-issuer https://id.example.com\noidc-client-id web\noidc-client-secret s3cret\n"
                + "oidc-allow @example.com\n");
        byte[] record = HolderRecord.encode("a", null, null, false, policy);
        String text = new String(record, StandardCharsets.US_ASCII);
        assertTrue(text.startsWith("diglett-holder 2\n"), "a node that knows no policy refuses it: " + text);
        RemoteHolder holder = HolderRecord.decode(record, 7);
        assertEquals(policy, holder.visitors().policy());
        assertEquals("a", holder.node());

        byte[] open = HolderRecord.encode("a", null, null, true);
        assertTrue(new String(open, StandardCharsets.US_ASCII).startsWith("diglett-holder 1\n"), "as before");
        assertSame(VisitorPolicy.OPEN, HolderRecord.decode(open, 8).visitors());

        byte[] stripped = "diglett-holder 2\nnode=a\n".getBytes(StandardCharsets.US_ASCII);
        assertClosed(HolderRecord.decode(stripped, 9).visitors(),
                "a second-version record that lost its policy is not taken as an open name");
        byte[] bad = ("diglett-holder 2\nnode=b\ntoken-sha256=" + "ab".repeat(32) + "\npolicy="
                + java.util.Base64.getEncoder().encodeToString("saml-metadata x\n".getBytes(StandardCharsets.UTF_8))
                + "\n").getBytes(StandardCharsets.US_ASCII);
        RemoteHolder unknown = HolderRecord.decode(bad, 10);
        assertClosed(unknown.visitors(), "a rule this node does not know: every client refused, never ignored");
        assertEquals("b", unknown.node(), "the rest still serves the takeover rule");
        assertTrue(unknown.sameToken(java.util.HexFormat.of().parseHex("ab".repeat(32))));
        assertThrows(IllegalArgumentException.class, () -> HolderRecord.decode("diglett-holder 3\nnode=a\n"
                .getBytes(StandardCharsets.US_ASCII), 11));
    }

    private static void assertClosed(VisitorPolicy visitors, String why) {
        assertTrue(visitors.closedBecause() != null, why);
        for (String client : java.util.List.of("127.0.0.1", "10.1.2.3", "::1", "2001:db8::7")) {
            assertEquals(VisitorPolicy.Decision.DENIED, visitors.admit(new java.net.InetSocketAddress(client, 1)),
                    client);
        }
    }
}
