package io.diglett.server.config;

import io.diglett.protocol.Names;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * Names no agent may register, whatever its token allows ({@code --reserved-names}): hosts an operator usually
 * serves itself under the gateway's domain (its web site, mail, API, status page), which a tunnel must never
 * take, neither through a registrar (a proxy route or DNS entry for {@code www.DOMAIN}) nor on the built-in
 * ingress.
 */
public record ReservedNames(Set<String> names) {

    /** The default list, as {@code --reserved-names} spells it. */
    public static final String DEFAULT = "www, mail, smtp, imap, pop, ftp, mx, ns1, ns2, webmail, autoconfig, "
            + "autodiscover, wpad, localhost, admin, api, status";

    public ReservedNames {
        names = Set.copyOf(names);
    }

    /** No name reserved. */
    public static ReservedNames none() {
        return new ReservedNames(Set.of());
    }

    /** The default list. */
    public static ReservedNames defaults() {
        return parse(DEFAULT);
    }

    /** A comma-separated list of DNS labels (blanks around them ignored); empty: none. */
    public static ReservedNames parse(String list) {
        Set<String> names = new TreeSet<>();
        for (String item : Arrays.stream(list.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList()) {
            String problem = Names.problem(item);
            if (problem != null) {
                throw new IllegalArgumentException("reserved " + problem);
            }
            names.add(item);
        }
        return new ReservedNames(names);
    }

    /** Whether {@code name} is reserved. */
    public boolean contains(String name) {
        return names.contains(name);
    }

    @Override
    public String toString() {
        return String.join(",", new TreeSet<>(names));
    }
}
