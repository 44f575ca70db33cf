package io.diglett.server.link;

import java.util.concurrent.CompletionStage;

/** A name held by one tunnel, as granted by a {@link NameRegistry}. */
public interface NameClaim {

    /** The name held. */
    String name();

    /** Grows with every claim of this name: a store refuses what an older holder writes after a newer claim. */
    long fence();

    /** Gives the name back, if this claim still holds it; later calls do nothing. Completes when done. */
    CompletionStage<Void> release();

    /**
     * Completes, with the reason, if the registry takes the name away while this claim holds it (its lease
     * expired, it was fenced by a newer claim); never completes for a claim released by its holder.
     */
    CompletionStage<String> lost();
}
