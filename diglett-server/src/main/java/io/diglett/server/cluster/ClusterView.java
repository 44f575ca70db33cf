package io.diglett.server.cluster;

import java.util.Map;

/** What a node knows of its cluster, for {@code /api/gateway}, {@code /metrics} and the dashboard. */
public interface ClusterView {

    /** This node's name. */
    String node();

    /** Whether the store answered this node's last keepalive. */
    boolean storeUp();

    /** Whether this node found itself cut off from the store that another node reaches (it sent its agents away). */
    boolean partitioned();

    /** How long the last answered keepalive took, in seconds ({@code -1} before one). */
    double keepAliveSeconds();

    /** Seconds since the store last answered a keepalive. */
    double storeSilentSeconds();

    /**
     * How long from the start of this node's last write the watch reported until that report (about the delay
     * with which every node learns of a change), in seconds; -1 before one.
     */
    double watchLagSeconds();

    /** The live nodes (their lease not expired) and where agents reach each, sorted by name. */
    Map<String, String> nodes();

    /** Where each live node with forwarding takes forwarded connections, sorted by node. */
    Map<String, String> forwarding();

    /** Every name held in the cluster and the node that holds it, sorted by name. */
    Map<String, String> holders();
}
