package io.diglett.server.cli;

import io.diglett.common.cli.ConfigDefaults;
import io.diglett.server.config.ClusterSettings;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** The gateway's cluster options (docs/cluster.md): without {@code --cluster-etcd}, a single gateway. */
public final class ClusterOptions {

    @Option(names = "--cluster-etcd", paramLabel = "URL[,URL...]", split = ConfigDefaults.SPLIT,
            hideParamSyntax = true,
            description = "Cluster mode: the names live in this etcd (its members' client URLs, comma-separated, "
                    + "http:// or https://), shared by every gateway node that names it. Default: a single gateway "
                    + "with its names in memory.")
    List<String> etcd;

    @Option(names = "--node-name", paramLabel = "NAME",
            description = "This node's name in the cluster, unique among its live nodes (default: the host name).")
    String nodeName;

    @Option(names = "--node-listen", paramLabel = "HOST:PORT", converter = io.diglett.common.cli.Converters.HostAndPort.class,
            description = "Where the other nodes reach this one to forward public connections for the names its "
                    + "agents hold (an address of this host on the nodes' network). With --cluster-secret-file; "
                    + "without both, a node serves only its own agents' names.")
    io.diglett.common.HostPort nodeListen;

    @Option(names = "--cluster-secret-file", paramLabel = "FILE",
            description = "The cluster's shared secret (the same file on every node, at least 16 bytes): it "
                    + "authenticates forwarded connections between nodes.")
    Path secretFile;

    @Option(names = "--lease-ttl", paramLabel = "SECONDS", defaultValue = "5",
            description = "How long etcd keeps this node's names after its last keepalive (it died, or lost etcd). "
                    + "Default: ${DEFAULT-VALUE}.")
    long leaseTtl;

    @Option(names = "--etcd-ca", paramLabel = "FILE", description = "PEM CA certificate of etcd's members.")
    Path etcdCa;

    @Option(names = "--etcd-cert", paramLabel = "FILE", description = "PEM client certificate for etcd.")
    Path etcdCert;

    @Option(names = "--etcd-key", paramLabel = "FILE", description = "PEM private key of --etcd-cert.")
    Path etcdKey;

    @Option(names = "--etcd-user", paramLabel = "USER", description = "etcd user (etcd's auth).")
    String etcdUser;

    @Option(names = "--etcd-password-file", paramLabel = "FILE",
            description = "File whose first line is --etcd-user's password.")
    Path etcdPasswordFile;

    /** Whether cluster mode is on. */
    boolean enabled() {
        return etcd != null && !etcd.isEmpty();
    }

    /**
     * The cluster settings, or {@code null} without {@code --cluster-etcd}.
     *
     * @throws IllegalArgumentException for a wrong value (a usage error), or a cluster option without
     *                                  {@code --cluster-etcd}
     */
    ClusterSettings settings() {
        if (!enabled()) {
            if (nodeName != null || etcdCa != null || etcdCert != null || etcdKey != null || etcdUser != null
                    || etcdPasswordFile != null || nodeListen != null || secretFile != null) {
                throw new IllegalArgumentException("--node-name, --node-listen, --cluster-secret-file and the --etcd-*"
                        + " options need --cluster-etcd");
            }
            return null;
        }
        List<URI> urls = new ArrayList<>();
        for (String given : etcd) {
            for (String url : given.split(",")) {
                if (url.isBlank()) {
                    continue;
                }
                try {
                    urls.add(new URI(url.trim()));
                } catch (URISyntaxException e) {
                    throw new IllegalArgumentException("--cluster-etcd " + url.trim() + ": not a URL");
                }
            }
        }
        String password = null;
        if (etcdPasswordFile != null) {
            try {
                String text = Files.readString(etcdPasswordFile, StandardCharsets.UTF_8);
                password = text.lines().findFirst().orElse("");
            } catch (IOException e) {
                throw new IllegalArgumentException("--etcd-password-file " + etcdPasswordFile + ": cannot read it ("
                        + e.getMessage() + ")");
            }
        }
        byte[] secret = null;
        if (secretFile != null) {
            try {
                secret = Files.readString(secretFile, StandardCharsets.UTF_8).strip().getBytes(StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new IllegalArgumentException("--cluster-secret-file " + secretFile + ": cannot read it ("
                        + e.getMessage() + ")");
            }
        }
        return new ClusterSettings(urls, nodeName != null ? nodeName : hostName(), Duration.ofSeconds(leaseTtl),
                etcdCa, etcdCert, etcdKey, etcdUser, password, nodeListen, secret);
    }

    private static String hostName() {
        try {
            String name = InetAddress.getLocalHost().getHostName();
            int dot = name.indexOf('.');
            return dot > 0 ? name.substring(0, dot) : name;
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot tell this host's name (" + e.getMessage()
                    + "); give --node-name");
        }
    }
}
