package io.diglett.agent;

import java.util.List;

/** A name the gateway accepted: the public port it listens on for it, and its URLs on the gateway's ingress. */
public record Registration(String name, int publicPort, List<String> urls) {

    public Registration {
        urls = List.copyOf(urls);
    }

    public Registration(String name, int publicPort) {
        this(name, publicPort, List.of());
    }
}
