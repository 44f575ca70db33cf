package io.diglett.server.cluster;

import io.diglett.server.acme.AcmeStore;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A cluster's ACME state, in etcd under {@code /diglett/acme/}, so that every node serves the certificates one of
 * them obtained and any node can answer a validation:
 * <ul>
 *   <li>{@code account}: the account key, created once (the first write wins);</li>
 *   <li>{@code certs/SUBJECT}: a certificate, its key's PEM followed by the chain's;</li>
 *   <li>{@code issued/SECONDS-ID}: {@code TOKEN SUBJECT} for each new certificate (the weekly budgets);</li>
 *   <li>{@code locks/SUBJECT}: the node ordering SUBJECT's certificate, under its lease (a dead node's lock
 *       goes with it);</li>
 *   <li>{@code challenges/HOST}: a TLS-ALPN-01 answer (key and certificate PEM), under the lease of the node
 *       that ordered it.</li>
 * </ul>
 * Other nodes' new certificates are noticed by reading {@code certs/} every {@link #POLL}.
 */
public final class EtcdAcmeStore implements AcmeStore {

    private static final Logger log = LoggerFactory.getLogger(EtcdAcmeStore.class);

    static final String ACME = EtcdStore.PREFIX + "acme/";
    static final String ACCOUNT = ACME + "account";
    static final String CERTS = ACME + "certs/";
    static final String ISSUED = ACME + "issued/";
    static final String LOCKS = ACME + "locks/";
    static final String CHALLENGES = ACME + "challenges/";
    /** How often other nodes' certificates are looked for. */
    static final Duration POLL = Duration.ofSeconds(5);

    private final EtcdStore store;
    private final List<Consumer<String>> listeners = new CopyOnWriteArrayList<>();
    /** The revision of each certificate seen or written here. */
    private final Map<String, Long> seen = new HashMap<>();
    private ScheduledFuture<?> poll;

    EtcdAcmeStore(EtcdStore store) {
        this.store = store;
    }

    private static ByteSequence key(String key) {
        return EtcdStore.bytes(key);
    }

    private static String text(KeyValue kv) {
        return kv.getValue().toString(StandardCharsets.UTF_8);
    }

    /** Waits for {@code request} to the store, failing with an IOException that says why. */
    private <T> T await(Supplier<CompletableFuture<T>> request) throws IOException {
        try {
            return store.call(request).get(EtcdStore.REQUEST_TIMEOUT.toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("cluster store: " + EtcdStore.reason(e), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    @Override
    public String accountKey(Supplier<String> create) throws IOException {
        GetResponse read = await(() -> store.client().getKVClient().get(key(ACCOUNT)));
        if (!read.getKvs().isEmpty()) {
            return text(read.getKvs().get(0));
        }
        String pem = create.get();
        TxnResponse written = await(() -> store.client().getKVClient().txn()
                .If(new Cmp(key(ACCOUNT), Cmp.Op.EQUAL, CmpTarget.createRevision(0)))
                .Then(Op.put(key(ACCOUNT), EtcdStore.bytes(pem), PutOption.DEFAULT))
                .Else(Op.get(key(ACCOUNT), GetOption.DEFAULT))
                .commit());
        if (written.isSucceeded()) {
            return pem;
        }
        return text(written.getGetResponses().get(0).getKvs().get(0)); // another node's, written first
    }

    @Override
    public Stored certificate(String subject) throws IOException {
        GetResponse read = await(() -> store.client().getKVClient().get(key(CERTS + subject)));
        if (read.getKvs().isEmpty()) {
            return null;
        }
        KeyValue kv = read.getKvs().get(0);
        synchronized (seen) {
            seen.put(subject, kv.getModRevision());
        }
        return split(text(kv));
    }

    /** A stored value, the key's PEM then the certificates': split at the first certificate. */
    static Stored split(String value) throws IOException {
        int chain = value.indexOf("-----BEGIN CERTIFICATE-----");
        if (chain <= 0) {
            throw new IOException("not a key followed by certificates");
        }
        return new Stored(value.substring(chain), value.substring(0, chain));
    }

    @Override
    public void saveCertificate(String subject, Stored stored) throws IOException {
        var put = await(() -> store.client().getKVClient().put(key(CERTS + subject),
                EtcdStore.bytes(stored.keyPem() + stored.chainPem())));
        synchronized (seen) {
            seen.put(subject, put.getHeader().getRevision());
        }
    }

    @Override
    public List<Issuance> issuances(Instant now) throws IOException {
        GetResponse read = await(() -> store.client().getKVClient().get(key(ISSUED),
                GetOption.builder().isPrefix(true).build()));
        List<Issuance> issued = new ArrayList<>();
        Instant since = now.minus(Duration.ofDays(7));
        for (KeyValue kv : read.getKvs()) {
            String name = kv.getKey().toString(StandardCharsets.UTF_8).substring(ISSUED.length());
            String[] fields = text(kv).split(" ", 2);
            try {
                Instant at = Instant.ofEpochSecond(Long.parseLong(name.substring(0, name.indexOf('-'))));
                if (fields.length == 2 && at.isAfter(since)) {
                    issued.add(new Issuance(at, fields[0], fields[1]));
                } else if (!at.isAfter(since)) {
                    store.client().getKVClient().delete(kv.getKey()); // out of the window: best effort
                }
            } catch (RuntimeException e) {
                log.debug("cluster: ignoring {} in the issuance record", name);
            }
        }
        return issued;
    }

    @Override
    public void recordIssuance(Issuance issuance) throws IOException {
        String name = ISSUED + issuance.at().getEpochSecond() + "-" + UUID.randomUUID();
        await(() -> store.client().getKVClient().put(key(name),
                EtcdStore.bytes(issuance.token() + " " + issuance.subject())));
    }

    @Override
    public boolean whileLocked(String subject, IoAction action) throws IOException, InterruptedException {
        ByteSequence lock = key(LOCKS + subject);
        long lease = store.lease();
        TxnResponse taken = await(() -> store.client().getKVClient().txn()
                .If(new Cmp(lock, Cmp.Op.EQUAL, CmpTarget.createRevision(0)))
                .Then(Op.put(lock, EtcdStore.bytes(store.node()), PutOption.builder().withLeaseId(lease).build()))
                .commit());
        if (!taken.isSucceeded()) {
            log.info("ACME: another node orders the certificate of {}", subject);
            return false;
        }
        try {
            action.run();
        } finally {
            try {
                await(() -> store.client().getKVClient().delete(lock));
            } catch (IOException e) {
                log.warn("ACME: cannot release the order lock of {} ({}); it goes with this node's lease",
                        subject, e.getMessage());
            }
        }
        return true;
    }

    @Override
    public void putChallenge(String host, Stored answer) throws IOException {
        long lease = store.lease();
        await(() -> store.client().getKVClient().put(key(CHALLENGES + host),
                EtcdStore.bytes(answer.keyPem() + answer.chainPem()), PutOption.builder().withLeaseId(lease).build()));
    }

    @Override
    public void removeChallenge(String host) throws IOException {
        await(() -> store.client().getKVClient().delete(key(CHALLENGES + host)));
    }

    @Override
    public CompletableFuture<Stored> challenge(String host) {
        return store.call(() -> store.client().getKVClient().get(key(CHALLENGES + host))).thenApply(read -> {
            if (read.getKvs().isEmpty()) {
                return null;
            }
            try {
                return split(text(read.getKvs().get(0)));
            } catch (IOException e) {
                log.warn("cluster: the validation answer for {} is malformed", host);
                return null;
            }
        });
    }

    @Override
    public synchronized void onCertificateStored(Consumer<String> changed) {
        listeners.add(changed);
        if (poll == null) {
            poll = store.thread().scheduleWithFixedDelay(this::look, POLL.toMillis(), POLL.toMillis(),
                    TimeUnit.MILLISECONDS);
        }
    }

    /** Reads {@code certs/}: every certificate written since this node last saw it is announced. */
    private void look() {
        store.call(() -> store.client().getKVClient().get(key(CERTS), GetOption.builder().isPrefix(true)
                .withKeysOnly(true).build())).whenComplete((read, error) -> {
                    if (error != null) {
                        return; // the store is down: the next look
                    }
                    for (KeyValue kv : read.getKvs()) {
                        String subject = kv.getKey().toString(StandardCharsets.UTF_8).substring(CERTS.length());
                        Long before;
                        synchronized (seen) {
                            before = seen.put(subject, kv.getModRevision());
                        }
                        if (before == null || before < kv.getModRevision()) {
                            listeners.forEach(listener -> listener.accept(subject));
                        }
                    }
                });
    }

    @Override
    public synchronized void close() {
        if (poll != null) {
            poll.cancel(false);
        }
    }
}
