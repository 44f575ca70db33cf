package io.diglett.server.config;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * What the gateway believes about where a public client comes from, and what it lets clients claim.
 *
 * @param clientIpHeaders request headers (lower case) that name a client address, which the ingress removes from
 *                        requests and trailers beside Forwarded, X-Forwarded-* and X-Real-IP (always removed: the
 *                        gateway sets X-Forwarded-* itself)
 * @param acceptProxyFrom the upstream addresses (an L4 load balancer) whose connections to the public ports and the
 *                        ingress start with a PROXY protocol header naming the real client; empty: none
 */
public record ForwardingSettings(List<String> clientIpHeaders, List<io.diglett.protocol.Cidr> acceptProxyFrom) {

    /** Headers that backends and frameworks commonly read as the client's address. */
    public static final List<String> DEFAULT_CLIENT_IP_HEADERS = List.of("true-client-ip", "x-client-ip",
            "client-ip", "cf-connecting-ip", "fastly-client-ip", "x-cluster-client-ip", "x-original-forwarded-for",
            "x-proxyuser-ip", "forwarded-for", "x-originating-ip", "x-remote-ip", "x-remote-addr",
            "x-appengine-user-ip", "cf-pseudo-ipv4");

    /** The {@code --client-ip-header} value that leaves out the default list. */
    public static final String NO_DEFAULTS = "none";

    /**
     * The client-address headers {@code --client-ip-header} gives: the default list and the names {@code given}
     * (the default list left out if one of them is {@link #NO_DEFAULTS}); {@code null}: the default list alone.
     */
    public static List<String> clientIpHeaders(List<String> given) {
        if (given == null) {
            return DEFAULT_CLIENT_IP_HEADERS;
        }
        Set<String> names = new LinkedHashSet<>();
        if (given.stream().noneMatch(name -> name.trim().equalsIgnoreCase(NO_DEFAULTS))) {
            names.addAll(DEFAULT_CLIENT_IP_HEADERS);
        }
        for (String name : given) {
            if (!name.trim().equalsIgnoreCase(NO_DEFAULTS)) {
                names.add(name);
            }
        }
        return List.copyOf(names);
    }

    public ForwardingSettings {
        Set<String> names = new LinkedHashSet<>(clientIpHeaders.size());
        for (String header : clientIpHeaders) {
            String name = header.trim().toLowerCase(Locale.ROOT).replace('_', '-');
            if (!name.matches("[a-z0-9!#$%&'*+.^`|~-]+")) {
                throw new IllegalArgumentException("--client-ip-header '" + header + "' is not a header name");
            }
            names.add(name);
        }
        clientIpHeaders = List.copyOf(names);
        acceptProxyFrom = List.copyOf(acceptProxyFrom);
    }

    /** The common client-address headers stripped, no PROXY protocol accepted. */
    public static ForwardingSettings defaults() {
        return new ForwardingSettings(DEFAULT_CLIENT_IP_HEADERS, List.of());
    }

    public ForwardingSettings withClientIpHeaders(List<String> value) {
        return new ForwardingSettings(value, acceptProxyFrom);
    }

    public ForwardingSettings withAcceptProxyFrom(List<io.diglett.protocol.Cidr> value) {
        return new ForwardingSettings(clientIpHeaders, value);
    }

    /** Whether a connection from {@code address} must start with a PROXY protocol header. */
    public boolean proxyFrom(InetAddress address) {
        for (io.diglett.protocol.Cidr cidr : acceptProxyFrom) {
            if (cidr.contains(address)) {
                return true;
            }
        }
        return false;
    }
}
