package io.diglett.server.link;

import java.util.Optional;

/** A claim refused because another tunnel holds the name. */
public final class NameTakenException extends Exception {

    private static final long serialVersionUID = 1L;

    /** The holder, when it is a tunnel of this gateway (its link may be taken over); not serialised. */
    private final transient Tunnel localHolder;

    /** The holder, when a store of a cluster says it is on another node; not serialised. */
    private final transient RemoteHolder remoteHolder;

    public NameTakenException(String name, Tunnel localHolder) {
        this(name, localHolder, null);
    }

    public NameTakenException(String name, Tunnel localHolder, RemoteHolder remoteHolder) {
        super("name '" + name + "' is already in use", null, false, false);
        this.localHolder = localHolder;
        this.remoteHolder = remoteHolder;
    }

    /** The holder, when its agent link ends at another node of the cluster. */
    public Optional<RemoteHolder> remoteHolder() {
        return Optional.ofNullable(remoteHolder);
    }

    /** The holder, when its agent link ends at this gateway. */
    public Optional<Tunnel> localHolder() {
        return Optional.ofNullable(localHolder);
    }
}
