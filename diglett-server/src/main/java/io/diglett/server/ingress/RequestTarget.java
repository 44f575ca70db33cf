package io.diglett.server.ingress;

import java.util.Locale;

/**
 * A request's target as the ingress routes and forwards it (RFC 9112, section 3.2). In origin-form
 * ({@code /path?query}) the Host header names the host; in absolute-form ({@code http://host/path}) the target's
 * authority does, and Host is ignored (section 3.2.2): the request goes to the backend in origin-form with Host set
 * to that authority, so the backend reads the same host the gateway routed by.
 *
 * @param authority the target's authority, {@code null} unless the target is in absolute-form
 * @param uri       the target as it goes to the backend: origin-form for an absolute-form target, else unchanged
 */
record RequestTarget(String authority, String uri) {

    /**
     * Reads {@code target} (the request line's bytes, one char each).
     *
     * @throws IllegalArgumentException with a reason for the client, for an absolute-form target that is not an
     *                                  {@code http} or {@code https} URI with a host (of host and port characters)
     *                                  and without user information
     */
    static RequestTarget of(String target) {
        if (target.startsWith("/") || target.equals("*")) {
            return new RequestTarget(null, target);
        }
        int colon = target.indexOf("://");
        String scheme = colon < 0 ? "" : target.substring(0, colon).toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            // authority-form (CONNECT host:port) names a host for a proxy to dial, never a tunnel here
            throw new IllegalArgumentException("the request target must be a path or an http(s) URI");
        }
        int start = colon + 3;
        int end = start;
        while (end < target.length() && "/?#".indexOf(target.charAt(end)) < 0) {
            end++;
        }
        String authority = target.substring(start, end);
        if (authority.isEmpty()) {
            throw new IllegalArgumentException("the request target names no host");
        }
        if (authority.indexOf('@') >= 0) {
            throw new IllegalArgumentException("the request target has user information, which HTTP does not allow");
        }
        if (!authority.matches("[A-Za-z0-9._~!$&'()*+,;=%:\\[\\]-]+")) {
            throw new IllegalArgumentException("the request target's host has characters a host cannot have");
        }
        String rest = target.substring(end);
        return new RequestTarget(authority, rest.startsWith("/") ? rest : "/" + rest);
    }

    /** The host the request is for: the target's authority in absolute-form, else {@code host} (the Host header). */
    String host(String host) {
        return authority == null ? host : authority;
    }
}
