package io.diglett.server.link;

import java.util.Optional;

/** A claim refused because another tunnel holds the name. */
public final class NameTakenException extends Exception {

    private static final long serialVersionUID = 1L;

    /** The holder, when it is a tunnel of this gateway (its link may be taken over); not serialised. */
    private final transient Tunnel localHolder;

    public NameTakenException(String name, Tunnel localHolder) {
        super("name '" + name + "' is already in use", null, false, false);
        this.localHolder = localHolder;
    }

    /** The holder, when its agent link ends at this gateway. */
    public Optional<Tunnel> localHolder() {
        return Optional.ofNullable(localHolder);
    }
}
