package io.diglett.server.link;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.Policy;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** A name's rate per client address on a clock the test moves, and the bound on the addresses it keeps. */
class VisitorPolicyTest {

    private final AtomicLong nanos = new AtomicLong();

    private static InetSocketAddress client(int n) throws Exception {
        return new InetSocketAddress(InetAddress.getByAddress(new byte[] {10, (byte) (n >> 16), (byte) (n >> 8),
                (byte) n}), 40000);
    }

    @Test
    void aBurstThenOneTokenEachFractionOfASecond() throws Exception {
        VisitorPolicy policy = new VisitorPolicy(Policy.parse("rate-limit 4\n"), nanos::get);
        for (int i = 0; i < 4; i++) {
            assertEquals(VisitorPolicy.Decision.ALLOWED, policy.admit(client(1)), "the burst");
        }
        assertEquals(VisitorPolicy.Decision.LIMITED, policy.admit(client(1)));
        assertEquals(VisitorPolicy.Decision.ALLOWED, policy.admit(client(2)), "another address");
        nanos.addAndGet(TimeUnit.MILLISECONDS.toNanos(250));
        assertEquals(VisitorPolicy.Decision.ALLOWED, policy.admit(client(1)), "a quarter second: one token");
        assertEquals(VisitorPolicy.Decision.LIMITED, policy.admit(client(1)));
        assertEquals(1, policy.retryAfterSeconds());
        assertEquals(2, policy.limited());
        assertEquals(6, policy.allowed());
    }

    @Test
    void theBucketsPerNameAreBounded() throws Exception {
        VisitorPolicy policy = new VisitorPolicy(Policy.parse("rate-limit 1\n"), nanos::get);
        for (int i = 0; i < VisitorPolicy.MAX_BUCKETS * 3; i++) {
            policy.admit(client(i));
            assertTrue(policy.buckets() <= VisitorPolicy.MAX_BUCKETS, "at most the bound: " + policy.buckets());
        }
        nanos.addAndGet(TimeUnit.SECONDS.toNanos(2)); // every bucket refilled: the idle ones go first
        for (int i = 0; i < VisitorPolicy.MAX_BUCKETS; i++) {
            assertEquals(VisitorPolicy.Decision.ALLOWED, policy.admit(client(1_000_000 + i)));
        }
        assertTrue(policy.buckets() <= VisitorPolicy.MAX_BUCKETS);
    }

    @Test
    void noRuleDecidesNothingAndKeepsNothing() throws Exception {
        assertEquals(VisitorPolicy.Decision.ALLOWED, VisitorPolicy.OPEN.admit(client(1)));
        assertEquals(0, VisitorPolicy.OPEN.buckets());
        assertEquals(0, VisitorPolicy.OPEN.allowed(), "nothing counted without a policy");
    }

    @Test
    void anIpv6ClientsRateIsItsSlash64s() throws Exception {
        VisitorPolicy policy = new VisitorPolicy(Policy.parse("rate-limit 1\n"), nanos::get);
        assertEquals(VisitorPolicy.Decision.ALLOWED,
                policy.admit(new InetSocketAddress(InetAddress.getByName("2001:db8:1:2::1"), 1)));
        assertEquals(VisitorPolicy.Decision.LIMITED,
                policy.admit(new InetSocketAddress(InetAddress.getByName("2001:db8:1:2:ffff::7"), 1)),
                "another address of the same /64");
        assertEquals(VisitorPolicy.Decision.ALLOWED,
                policy.admit(new InetSocketAddress(InetAddress.getByName("2001:db8:1:3::1"), 1)), "another /64");
        assertEquals(VisitorPolicy.Decision.ALLOWED, policy.admit(new InetSocketAddress(
                InetAddress.getByName("192.0.2.1"), 1)));
        assertEquals(VisitorPolicy.Decision.LIMITED, policy.admit(new InetSocketAddress(
                InetAddress.getByName("::ffff:192.0.2.1"), 1)), "an IPv4-mapped address is its IPv4 address");
    }

    @Test
    void anAddressThatCannotBeToldPassesNoAllowRule() {
        VisitorPolicy policy = new VisitorPolicy(Policy.parse("allow-cidr 10.0.0.0/8\n"), nanos::get);
        assertEquals(VisitorPolicy.Decision.DENIED, policy.admit(new io.netty.channel.local.LocalAddress("x")));
    }
}
