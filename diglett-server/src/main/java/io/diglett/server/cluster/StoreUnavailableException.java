package io.diglett.server.cluster;

import java.io.IOException;

/**
 * The cluster store did not answer (etcd down, or this node cut from it): what was asked may be asked again later.
 * Its message is what an agent whose registration failed reads.
 */
public final class StoreUnavailableException extends IOException {

    private static final long serialVersionUID = 1L;

    StoreUnavailableException(String detail) {
        super("cluster store unavailable" + (detail == null ? "" : ": " + detail), null);
    }
}
