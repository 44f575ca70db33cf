package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Visitor policies: their frame, the address rules, and the operator's narrowing. */
class PolicyTest {

    private static InetAddress ip(String text) throws Exception {
        return InetAddress.getByName(text);
    }

    private static Policy policy(String text) {
        return Policy.parse(text);
    }

    @Test
    void roundTripsThroughItsFrame() {
        Policy policy = policy("allow-cidr 10.0.0.0/8\nallow-cidr 2001:db8::/32\ndeny-cidr 10.1.0.0/16\nrate-limit 20/s\n");
        Frame frame = policy.encode(UnpooledByteBufAllocator.DEFAULT, 3);
        try {
            assertEquals(FrameKind.POLICY, frame.kind());
            assertEquals(3, frame.id());
            assertEquals(policy, Policy.decode(frame));
            assertEquals("allow-cidr 10.0.0.0/8\nallow-cidr 2001:db8:0:0:0:0:0:0/32\ndeny-cidr 10.1.0.0/16\n"
                    + "rate-limit 20\n", policy.text());
        } finally {
            frame.release();
        }
    }

    @Test
    void denyBeatsAllowAndAnEmptyAllowListAdmitsEveryone() throws Exception {
        Policy policy = policy("allow-cidr 10.0.0.0/8\ndeny-cidr 10.1.0.0/16\n");
        assertTrue(policy.admits(ip("10.2.3.4")));
        assertFalse(policy.admits(ip("10.1.3.4")), "denied inside an allowed block");
        assertFalse(policy.admits(ip("192.0.2.1")), "outside every allowed block");
        assertTrue(policy.admits(ip("::ffff:10.2.3.4")), "an IPv4-mapped address is its IPv4 address");
        assertFalse(policy.admits(ip("2001:db8::1")), "IPv6 outside the (IPv4) allowed blocks");
        Policy denyOnly = policy("deny-cidr 192.0.2.0/24\n");
        assertTrue(denyOnly.admits(ip("198.51.100.1")));
        assertFalse(denyOnly.admits(ip("192.0.2.7")));
        assertTrue(Policy.NONE.admits(ip("192.0.2.7")));
    }

    @Test
    void anOperatorNarrowsAndNeverWidens() {
        Policy operator = policy("allow-cidr 10.0.0.0/8\ndeny-cidr 10.9.0.0/16\nrate-limit 5\n");
        assertEquals(policy("allow-cidr 10.0.0.0/8\ndeny-cidr 10.9.0.0/16\nrate-limit 5\n"),
                Policy.NONE.narrowedBy(operator), "an agent without rules gets the operator's");
        assertEquals(policy("allow-cidr 10.1.0.0/16\ndeny-cidr 10.1.2.0/24\ndeny-cidr 10.9.0.0/16\nrate-limit 5\n"),
                policy("allow-cidr 10.1.0.0/16\ndeny-cidr 10.1.2.0/24\nrate-limit 50\n").narrowedBy(operator),
                "the agent's narrower block, both deny lists, the lower rate");
        assertEquals(policy("allow-cidr 10.0.0.0/8\ndeny-cidr 10.9.0.0/16\nrate-limit 2\n"),
                policy("allow-cidr 0.0.0.0/0\nrate-limit 2\n").narrowedBy(operator),
                "a wider block is cut to the operator's");
        IllegalArgumentException outside = assertThrows(IllegalArgumentException.class,
                () -> policy("allow-cidr 192.0.2.0/24\n").narrowedBy(operator));
        assertTrue(outside.getMessage().contains("outside what the operator allows"), outside.getMessage());
    }

    @Test
    void anUnknownOrWrongRuleIsRefusedByName() {
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> policy("oidc-issuer https://id.example.com\n"));
        assertTrue(unknown.getMessage().startsWith("unknown policy rule 'oidc-issuer'"), unknown.getMessage());
        assertThrows(IllegalArgumentException.class, () -> policy("allow-cidr example.com\n"), "never a host name");
        assertThrows(IllegalArgumentException.class, () -> policy("allow-cidr 10.0.0.0/33\n"));
        assertThrows(IllegalArgumentException.class, () -> policy("rate-limit 0/s\n"));
        assertThrows(IllegalArgumentException.class, () -> policy("allow-cidr 10.0.0.1\n".repeat(65)),
                "at most 64 blocks a list");
        Frame binary = new Frame(FrameKind.POLICY, 1, Unpooled.wrappedBuffer(new byte[] {(byte) 0xff, (byte) 0xfe}));
        assertThrows(IllegalArgumentException.class, () -> Policy.decode(binary));
        binary.release();
        assertEquals(List.of(), policy("\n\n").allow());
        assertEquals("rate-limit 7\n", policy("RATE-LIMIT 7/s\n").text(), "rule names in any case");
    }
}
