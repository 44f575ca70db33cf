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
public record ForwardingSettings(List<String> clientIpHeaders, List<Cidr> acceptProxyFrom) {

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

    public ForwardingSettings withAcceptProxyFrom(List<Cidr> value) {
        return new ForwardingSettings(clientIpHeaders, value);
    }

    /** Whether a connection from {@code address} must start with a PROXY protocol header. */
    public boolean proxyFrom(InetAddress address) {
        for (Cidr cidr : acceptProxyFrom) {
            if (cidr.contains(address)) {
                return true;
            }
        }
        return false;
    }

    /** An address block, {@code 10.0.0.0/8} or {@code 2001:db8::/32}; a bare address is a block of one. */
    public record Cidr(byte[] network, int prefix) {

        /** @throws IllegalArgumentException if {@code text} is not an IP address with an optional prefix length */
        public static Cidr parse(String text) {
            String t = text.trim();
            int slash = t.indexOf('/');
            String address = slash < 0 ? t : t.substring(0, slash);
            if (!address.matches("[0-9.]+|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*")) {
                // never a host name: InetAddress would resolve it
                throw new IllegalArgumentException("--accept-proxy-from '" + text + "' is not an address or CIDR"
                        + " block like 10.0.0.0/8");
            }
            byte[] bytes;
            try {
                bytes = InetAddress.getByName(address).getAddress();
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("--accept-proxy-from '" + text + "' is not an address or CIDR"
                        + " block like 10.0.0.0/8");
            }
            int prefix;
            try {
                prefix = slash < 0 ? bytes.length * 8 : Integer.parseInt(t.substring(slash + 1));
            } catch (NumberFormatException e) {
                prefix = -1;
            }
            if (prefix < 0 || prefix > bytes.length * 8) {
                throw new IllegalArgumentException("--accept-proxy-from '" + text + "': the prefix length must be"
                        + " 0-" + bytes.length * 8);
            }
            for (int bit = prefix; bit < bytes.length * 8; bit++) {
                bytes[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
            }
            return new Cidr(bytes, prefix);
        }

        /** Whether {@code address} is in this block (an IPv4-mapped IPv6 address counts as its IPv4 address). */
        public boolean contains(InetAddress address) {
            byte[] b = address.getAddress();
            if (b.length == 16 && network.length == 4 && isMappedV4(b)) {
                b = java.util.Arrays.copyOfRange(b, 12, 16);
            }
            if (b.length != network.length) {
                return false;
            }
            for (int bit = 0; bit < prefix; bit++) {
                int mask = 0x80 >>> (bit % 8);
                if ((b[bit / 8] & mask) != (network[bit / 8] & mask)) {
                    return false;
                }
            }
            return true;
        }

        /** Whether {@code b}, an IPv6 address's 16 bytes, is an IPv4-mapped one ({@code ::ffff:a.b.c.d}). */
        public static boolean isMappedV4(byte[] b) {
            for (int i = 0; i < 10; i++) {
                if (b[i] != 0) {
                    return false;
                }
            }
            return b[10] == (byte) 0xff && b[11] == (byte) 0xff;
        }

        @Override
        public String toString() {
            try {
                return InetAddress.getByAddress(network).getHostAddress() + "/" + prefix;
            } catch (UnknownHostException e) {
                throw new IllegalStateException(e); // 4 or 16 bytes
            }
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof Cidr c && c.prefix == prefix && java.util.Arrays.equals(c.network, network);
        }

        @Override
        public int hashCode() {
            return 31 * java.util.Arrays.hashCode(network) + prefix;
        }
    }
}
