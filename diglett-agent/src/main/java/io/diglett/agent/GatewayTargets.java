package io.diglett.agent;

import io.diglett.common.HostPort;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * Where the agent dials: every address of every gateway given ({@code -g gw1:20000,gw2:20000}, and a host name
 * with several addresses), in turn. The agent stays with one while it serves; when it cannot be reached, or the
 * agent loses every link to it, the agent goes on to the next, and after the last back to the first.
 *
 * <p>Resolution is blocking DNS: {@link #resolve} runs off the event loops, and is done again at every login (an
 * address list that changed is taken as it is now). The cursor is the control loop's.
 */
final class GatewayTargets {

    /** One address to dial: the gateway as given (its host name is the TLS server name) and one of its addresses. */
    record Target(HostPort gateway, InetSocketAddress address) {

        /** {@code gw1.example.com:20000}, or {@code gw1.example.com:20000 (10.0.0.2)} for a name's address. */
        @Override
        public String toString() {
            String ip = address.getAddress().getHostAddress();
            return ip.equals(gateway.host()) ? gateway.toString() : gateway + " (" + ip + ")";
        }
    }

    private final List<HostPort> gateways;
    private List<Target> targets = List.of();
    private int cursor;

    GatewayTargets(List<HostPort> gateways) {
        this.gateways = List.copyOf(gateways);
    }

    /**
     * Every address of every gateway, in the order given ({@link InetAddress#getAllByName}'s order within a name).
     * A name that does not resolve is left out while another does.
     *
     * @throws UnknownHostException when none resolves
     */
    List<Target> resolve() throws UnknownHostException {
        List<Target> all = new ArrayList<>();
        UnknownHostException failed = null;
        for (HostPort gateway : gateways) {
            try {
                for (InetAddress address : InetAddress.getAllByName(gateway.host())) {
                    all.add(new Target(gateway, new InetSocketAddress(address, gateway.port())));
                }
            } catch (UnknownHostException e) {
                failed = new UnknownHostException("cannot resolve gateway host '" + gateway.host() + "'");
            }
        }
        if (all.isEmpty()) {
            throw failed;
        }
        return all;
    }

    /** Takes a new resolution; the agent stays on the address it is on when that is still in the list. */
    Target use(List<Target> resolved) {
        Target now = targets.isEmpty() ? null : targets.get(cursor % targets.size());
        targets = resolved;
        int same = now == null ? -1 : resolved.indexOf(now);
        cursor = same >= 0 ? same : cursor % resolved.size();
        return targets.get(cursor);
    }

    /** The address the agent dials now, or {@code null} before the first resolution. */
    Target current() {
        return targets.isEmpty() ? null : targets.get(cursor % targets.size());
    }

    /** The next address (after the last, the first again); whether it differs from the one before. */
    boolean advance() {
        if (targets.size() <= 1) {
            return false;
        }
        cursor = (cursor + 1) % targets.size();
        return true;
    }

    /** How many addresses there are to try. */
    int size() {
        return targets.size();
    }
}
