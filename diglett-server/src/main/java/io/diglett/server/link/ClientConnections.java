package io.diglett.server.link;

import io.diglett.common.logging.RateLimitedLog;
import io.diglett.server.config.ForwardingSettings;
import io.netty.channel.Channel;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Public connections open now per client source (an IPv4 address, or an IPv6 /64: one host's or one
 * subscriber's share of addresses), over every public port and the ingress together, with a cap checked at
 * accept: a connection over it is refused before anything else happens (counted in metrics as
 * {@code per_ip_limit}, logged at most once a second). Thread safe: public sockets are accepted on several event
 * loops. A connection is counted once, when it is admitted, and given back exactly once, when its channel
 * closes, whichever way it ends.
 */
public final class ClientConnections {

    private static final Logger log = LoggerFactory.getLogger(ClientConnections.class);

    /**
     * Where connections come from: an IPv4 address or the first 64 bits of an IPv6 one. Also the key of a
     * client's share of the buffer budget (a forwarded client's too, on both nodes).
     */
    public record Source(boolean v6, long bits) {
        /** The source of {@code address}, or {@code null} for a non-IP address (a unix socket, a test channel). */
        public static Source of(SocketAddress address) {
            if (!(address instanceof InetSocketAddress inet) || inet.getAddress() == null) {
                return null;
            }
            return of(inet.getAddress());
        }

        static Source of(InetAddress address) {
            byte[] b = address.getAddress();
            if (address instanceof Inet6Address && io.diglett.protocol.Cidr.isMappedV4(b)) {
                b = Arrays.copyOfRange(b, 12, 16);
            }
            long bits = 0;
            int n = b.length == 4 ? 4 : 8;
            for (int i = 0; i < n; i++) {
                bits = bits << 8 | (b[i] & 0xff);
            }
            return new Source(b.length != 4, bits);
        }

        @Override
        public String toString() {
            byte[] b = new byte[v6 ? 16 : 4];
            for (int i = 0, n = v6 ? 8 : 4; i < n; i++) {
                b[i] = (byte) (bits >>> (8 * (n - 1 - i)));
            }
            try {
                String host = InetAddress.getByAddress(b).getHostAddress();
                return v6 ? host + "/64" : host;
            } catch (UnknownHostException e) {
                throw new IllegalStateException(e); // 4 or 16 bytes: cannot happen
            }
        }
    }

    private final ConcurrentHashMap<Source, Integer> open = new ConcurrentHashMap<>();
    private final IntSupplier cap;
    private final LinkEvents events;
    private final RateLimitedLog refusals;

    /**
     * Counts connections against {@code cap} (read at every accept, so a reload applies at once; 0: no limit),
     * reporting refusals to {@code events} and as warnings to {@code refusals}.
     */
    public ClientConnections(IntSupplier cap, LinkEvents events, RateLimitedLog refusals) {
        this.cap = cap;
        this.events = events;
        this.refusals = refusals;
    }

    /** With refusals logged as warnings, at most one a second. */
    public ClientConnections(IntSupplier cap, LinkEvents events) {
        this(cap, events, RateLimitedLog.perSecond(log));
    }

    /**
     * Counts {@code client}, just accepted on {@code where} (for the log line: a name's port, the ingress),
     * against its source, and gives the count back when it closes; or, when its source already has the most
     * connections allowed, counts nothing, reports the refusal and returns {@code false}: the caller ends the
     * connection. Connections that are not IP sockets are always admitted.
     */
    public boolean admit(Channel client, String where) {
        Source source = Source.of(ClientAddress.remote(client));
        if (source == null) {
            return true;
        }
        int max = cap.getAsInt();
        boolean[] admitted = new boolean[1];
        open.compute(source, (key, count) -> {
            int n = count == null ? 0 : count;
            if (max > 0 && n >= max) {
                return count;
            }
            admitted[0] = true;
            return n + 1;
        });
        if (!admitted[0]) {
            events.connectionRefused("per_ip_limit");
            refusals.warn("{} client={} refused: {} connections open from {}, the limit (--max-connections-per-ip)",
                    where, ClientAddress.remote(client), max, source);
            return false;
        }
        // runs exactly once, also for a channel that is already closed (the listener then runs at once)
        client.closeFuture().addListener(f -> release(source));
        return true;
    }

    private void release(Source source) {
        open.computeIfPresent(source, (key, count) -> count <= 1 ? null : count - 1);
    }

    /** Connections open now from {@code address}'s source (its /64 for IPv6). */
    public int open(InetAddress address) {
        return open.getOrDefault(Source.of(address), 0);
    }

    /** Sources with at least one connection open. */
    public int sources() {
        return open.size();
    }

    /** The most connections any one source has open now. */
    public int busiest() {
        int most = 0;
        for (int n : open.values()) {
            most = Math.max(most, n);
        }
        return most;
    }
}
