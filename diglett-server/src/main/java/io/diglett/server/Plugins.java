package io.diglett.server;

import java.util.ServiceLoader;
import java.util.function.Function;

/** Finds a plug-in (authenticator, registrar) on the class path by the name the operator gives. */
final class Plugins {

    private Plugins() {
    }

    /**
     * The provider of {@code type} whose {@code nameOf} is {@code name}.
     *
     * @throws IllegalArgumentException naming the {@code what} and the available names, when there is none
     */
    static <P> P find(Class<P> type, String name, Function<P, String> nameOf, String what) {
        StringBuilder known = new StringBuilder();
        for (P provider : ServiceLoader.load(type)) {
            String candidate = nameOf.apply(provider);
            if (candidate.equals(name)) {
                return provider;
            }
            known.append(known.length() == 0 ? "" : ", ").append(candidate);
        }
        throw new IllegalArgumentException("no " + what + " named '" + name + "' (available: " + known + ")");
    }
}
