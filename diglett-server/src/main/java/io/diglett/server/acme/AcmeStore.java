package io.diglett.server.acme;

import java.io.IOException;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Where ACME state lives: the account key, each subject's certificate and key, the record of issuances (for the
 * weekly budgets), an issuance lock per subject, and the TLS-ALPN-01 answers being validated. A single gateway
 * keeps it in its state directory ({@link FileAcmeStore}); a cluster keeps it in the cluster store, so that
 * whichever node the ACME server reaches can answer a validation, and every node serves the certificate one of
 * them obtained. Called on the ACME worker thread, except {@link #challenge}, which the ingress calls.
 */
public interface AcmeStore extends AutoCloseable {

    /** A certificate chain (leaf first) and its private key, both PEM. */
    record Stored(String chainPem, String keyPem) {
    }

    /** A new certificate (not a renewal): when, for which token, for which subject. */
    record Issuance(Instant at, String token, String subject) {
    }

    /** The account key (PEM); {@code create} makes one when there is none yet, and the first one stored wins. */
    String accountKey(Supplier<String> create) throws IOException;

    /** {@code subject}'s stored certificate, or {@code null}. */
    Stored certificate(String subject) throws IOException;

    /** Keeps {@code stored} as {@code subject}'s certificate (owner-only files, or the cluster store). */
    void saveCertificate(String subject, Stored stored) throws IOException;

    /** The new certificates of the last seven days (older ones may be dropped). */
    List<Issuance> issuances(Instant now) throws IOException;

    /** Records a new certificate. */
    void recordIssuance(Issuance issuance) throws IOException;

    /**
     * Runs {@code action} holding {@code subject}'s issuance lock, so that one node orders its certificate at a
     * time; returns {@code false} without running it when another node holds the lock.
     */
    boolean whileLocked(String subject, IoAction action) throws IOException, InterruptedException;

    /** Publishes the TLS-ALPN-01 answer for {@code host}: the validation key and certificate, PEM. */
    void putChallenge(String host, Stored answer) throws IOException;

    /** Withdraws {@code host}'s TLS-ALPN-01 answer. */
    void removeChallenge(String host) throws IOException;

    /** {@code host}'s TLS-ALPN-01 answer, completed with {@code null} when there is none. From any thread. */
    CompletableFuture<Stored> challenge(String host);

    /** {@code changed} hears the subject of each certificate another node stored (never for this node's own). */
    default void onCertificateStored(Consumer<String> changed) {
    }

    @Override
    default void close() {
    }

    /** Work under a lock. */
    @FunctionalInterface
    interface IoAction {
        void run() throws IOException, InterruptedException;
    }
}
