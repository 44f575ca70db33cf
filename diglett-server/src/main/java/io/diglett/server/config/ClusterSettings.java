package io.diglett.server.config;

import io.diglett.common.HostPort;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Cluster mode: the names live in etcd, shared by every gateway node of the cluster (docs/cluster.md).
 *
 * @param etcd         the etcd members' client URLs ({@code http://} or {@code https://}); the client fails over
 *                     between them
 * @param nodeName     this node's name in the cluster, unique among the live nodes
 * @param leaseTtl     how long the store keeps this node's names after it stops hearing from it
 * @param etcdCa       PEM CA certificate that signs the etcd members' certificates, or {@code null} (the JDK's)
 * @param etcdCert     PEM client certificate for etcd's mutual TLS, or {@code null}
 * @param etcdKey      PEM private key of {@code etcdCert}, or {@code null}
 * @param etcdUser     etcd user (etcd's auth), or {@code null}
 * @param etcdPassword that user's password, or {@code null}
 * @param nodeListen   where the other nodes forward public connections to this one, or {@code null}: this node
 *                     serves only the names its own agents hold
 * @param secret       the cluster's shared secret that authenticates forwarded connections (with
 *                     {@code nodeListen}), or {@code null}
 */
public record ClusterSettings(List<URI> etcd, String nodeName, Duration leaseTtl, Path etcdCa, Path etcdCert,
                              Path etcdKey, String etcdUser, String etcdPassword, HostPort nodeListen,
                              byte[] secret) {

    /** The shortest shared secret accepted. */
    public static final int MIN_SECRET_BYTES = 16;

    /** Default lease TTL: a dead node's names are free about this long after its last keepalive. */
    public static final Duration DEFAULT_LEASE_TTL = Duration.ofSeconds(5);

    /** A node name: what appears in keys, logs and {@code /api/gateway}. */
    private static final Pattern NODE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");

    public ClusterSettings {
        etcd = List.copyOf(etcd);
        if (etcd.isEmpty()) {
            throw new IllegalArgumentException("--cluster-etcd needs at least one etcd URL");
        }
        for (URI url : etcd) {
            if (!"http".equals(url.getScheme()) && !"https".equals(url.getScheme()) || url.getHost() == null
                    || url.getPort() < 0) {
                throw new IllegalArgumentException("--cluster-etcd " + url
                        + ": expected http://HOST:PORT or https://HOST:PORT");
            }
        }
        checkNodeName(nodeName);
        if (leaseTtl.compareTo(Duration.ofSeconds(2)) < 0 || leaseTtl.compareTo(Duration.ofHours(1)) > 0) {
            throw new IllegalArgumentException("--lease-ttl must be between 2 and 3600 seconds");
        }
        if ((etcdCert == null) != (etcdKey == null)) {
            throw new IllegalArgumentException("--etcd-cert and --etcd-key go together");
        }
        if ((nodeListen == null) != (secret == null)) {
            throw new IllegalArgumentException("--node-listen and --cluster-secret-file go together");
        }
        if (nodeListen != null && (nodeListen.host().equals("0.0.0.0") || nodeListen.host().equals("::")
                || nodeListen.host().equals("[::]"))) {
            throw new IllegalArgumentException("--node-listen " + nodeListen + ": give the address the other nodes"
                    + " reach this one at (it is recorded in etcd for them), not a wildcard");
        }
        if (secret != null && secret.length < MIN_SECRET_BYTES) {
            throw new IllegalArgumentException("the cluster secret has " + secret.length + " bytes; at least "
                    + MIN_SECRET_BYTES + " are needed (e.g. head -c 32 /dev/urandom | base64 > FILE)");
        }
        if ((etcdUser == null) != (etcdPassword == null)) {
            throw new IllegalArgumentException("--etcd-user needs --etcd-password-file, and the other way round");
        }
    }

    /**
     * Returns {@code name} if it is a valid node name.
     *
     * @throws IllegalArgumentException if it is not: 1 to 63 letters, digits, '.', '_' or '-', starting with a
     *                                  letter or digit (the message never repeats a name that is not)
     */
    public static String checkNodeName(String name) {
        if (name == null || !NODE_NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("a node name is 1 to 63 letters, digits, '.', '_' or '-', starting "
                    + "with a letter or digit");
        }
        return name;
    }

    /** A cluster on {@code etcd} with the defaults: no TLS or auth to etcd, a lease of {@link #DEFAULT_LEASE_TTL}. */
    public static ClusterSettings of(List<URI> etcd, String nodeName) {
        return new ClusterSettings(etcd, nodeName, DEFAULT_LEASE_TTL, null, null, null, null, null, null, null);
    }

    public ClusterSettings withLeaseTtl(Duration value) {
        return new ClusterSettings(etcd, nodeName, value, etcdCa, etcdCert, etcdKey, etcdUser, etcdPassword,
                nodeListen, secret);
    }

    /** Forwarding: connections for names of other nodes go there, and theirs come here on {@code listen}. */
    public ClusterSettings withForwarding(HostPort listen, byte[] sharedSecret) {
        return new ClusterSettings(etcd, nodeName, leaseTtl, etcdCa, etcdCert, etcdKey, etcdUser, etcdPassword,
                listen, sharedSecret);
    }

    /** Whether this node forwards to the others and takes their forwarded connections. */
    public boolean forwarding() {
        return nodeListen != null;
    }

    /** Whether a URL asks for TLS to etcd. */
    public boolean etcdTls() {
        return etcd.stream().anyMatch(url -> "https".equals(url.getScheme()));
    }

    @Override
    public String toString() { // never the password
        return "ClusterSettings[etcd=" + etcd + ", node=" + nodeName + ", leaseTtl=" + leaseTtl + ", nodeListen="
                + nodeListen + "]"; // never the password or the secret
    }
}
