package io.diglett.protocol;

import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * An address block, {@code 10.0.0.0/8} or {@code 2001:db8::/32}; a bare address is a block of one. Parsed without
 * ever resolving a name. Used by the gateway's {@code --accept-proxy-from} and by visitor policies ({@link Policy}).
 */
public record Cidr(byte[] network, int prefix) {

    /** @throws IllegalArgumentException if {@code text} is not an IP address with an optional prefix length */
    public static Cidr parse(String text) {
        String t = text.trim();
        int slash = t.indexOf('/');
        String address = slash < 0 ? t : t.substring(0, slash);
        byte[] bytes = address.indexOf(':') >= 0 ? io.netty.util.NetUtil.createByteArrayFromIpAddressString(address)
                : ipv4(address);
        if (bytes == null) {
            // parsed here, never by InetAddress: a host name, or a legacy form like 10.1, must not reach a resolver
            throw new IllegalArgumentException("'" + Printable.of(text) + "' is not an address or CIDR block like"
                    + " 10.0.0.0/8");
        }
        int prefix;
        try {
            prefix = slash < 0 ? bytes.length * 8 : Integer.parseInt(t.substring(slash + 1));
        } catch (NumberFormatException e) {
            prefix = -1;
        }
        if (prefix < 0 || prefix > bytes.length * 8) {
            throw new IllegalArgumentException("'" + Printable.of(text) + "': the prefix length must be 0-"
                    + bytes.length * 8);
        }
        if (bytes.length == 16 && isMappedV4(bytes) && prefix >= 96) {
            // ::ffff:a.b.c.d/N is the IPv4 block a.b.c.d/(N-96), which IPv4 clients are matched against
            bytes = java.util.Arrays.copyOfRange(bytes, 12, 16);
            prefix -= 96;
        }
        for (int bit = prefix; bit < bytes.length * 8; bit++) {
            bytes[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
        }
        return new Cidr(bytes, prefix);
    }

    /** Four dotted decimal octets, 0-255, without leading zeros; else {@code null}. */
    private static byte[] ipv4(String text) {
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            return null;
        }
        byte[] bytes = new byte[4];
        for (int i = 0; i < 4; i++) {
            String part = parts[i];
            if (part.isEmpty() || part.length() > 3 || !part.chars().allMatch(c -> c >= '0' && c <= '9')
                    || part.length() > 1 && part.charAt(0) == '0') {
                return null;
            }
            int value = Integer.parseInt(part);
            if (value > 255) {
                return null;
            }
            bytes[i] = (byte) value;
        }
        return bytes;
    }

    /** Whether every address of this block is in {@code other} (same family, at least as long a prefix). */
    public boolean within(Cidr other) {
        if (other.network.length != network.length || prefix < other.prefix) {
            return false;
        }
        for (int bit = 0; bit < other.prefix; bit++) {
            int mask = 0x80 >>> (bit % 8);
            if ((network[bit / 8] & mask) != (other.network[bit / 8] & mask)) {
                return false;
            }
        }
        return true;
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
