package io.diglett.server.link;

import io.diglett.protocol.mux.FlowLimits;
import io.diglett.server.config.GatewayConfig;
import java.util.List;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * What an agent link session needs from the gateway around it, and nothing else.
 *
 * @param config        the settings in force (a reload replaces limits)
 * @param registrations names: authorize, claim, bind, expose, release
 * @param events        what links report for monitoring
 * @param urls          the public URLs of a tunnel on the ingress (told to its agent); empty without one
 * @param nanoClock     monotonic time, for latencies
 * @param flow          the buffer budget every link's streams share, and the stall timeout
 * @param groups        the agents' sessions, for links that join one
 */
public record LinkServices(Supplier<GatewayConfig> config, Registrations registrations, LinkEvents events,
                           Function<Tunnel, List<String>> urls, LongSupplier nanoClock, FlowLimits flow,
                           LinkGroups groups) {
}
