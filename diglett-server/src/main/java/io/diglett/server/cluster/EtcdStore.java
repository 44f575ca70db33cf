package io.diglett.server.cluster;

import io.diglett.protocol.Printable;
import io.diglett.server.config.ClusterSettings;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.ClientBuilder;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node's connection to the cluster store, etcd: the client (failing over between the members), the node's
 * lease and its keepalive, the node's own key, and whether the store answers now.
 *
 * <p>The lease is this node's liveness: every name the node's agents hold is written under it, so the store
 * deletes them all about {@code --lease-ttl} after the node's last keepalive (the node died, or was cut off). The
 * keepalive runs every third of the TTL on this store's one thread. A keepalive that fails marks the store
 * unavailable (registrations then fail with "cluster store unavailable", and existing tunnels keep serving); one
 * that finds the lease gone (the store expired it while it could not hear this node) tells the listeners, which
 * give up every name the node held, and a new lease is granted.
 *
 * <p>Keys, under {@code /diglett/}: {@code nodes/NODE} (this node, under its lease), {@code names/NAME} (a
 * {@link HolderRecord}, under the holder node's lease), {@code ports/PORT} (the name a raw public port is
 * allotted to, under the holder node's lease), {@code certificate} (the SHA-256 of the certificate the
 * nodes present to agents, written by the first node and checked by every other).
 */
public final class EtcdStore implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EtcdStore.class);

    static final String PREFIX = "/diglett/";
    static final String NAMES = PREFIX + "names/";
    static final String NODES = PREFIX + "nodes/";
    static final String PORTS = PREFIX + "ports/";
    static final String CERTIFICATE = PREFIX + "certificate";
    /** How long one request to the store may take before it counts as unanswered. */
    static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(3);
    /** How soon a keepalive is tried again after the store did not answer one. */
    static final long RETRY_MILLIS = 1_000;

    private final ClusterSettings settings;
    private final Client client;
    private final ScheduledExecutorService thread;
    private final List<LongConsumer> leaseLost = new CopyOnWriteArrayList<>();
    private volatile long lease;
    private volatile boolean up;
    private volatile long lastAnswerNanos = System.nanoTime();
    private volatile long keepAliveNanos = -1;
    private volatile boolean closed;
    private String nodeRecord;

    public EtcdStore(ClusterSettings settings) throws javax.net.ssl.SSLException {
        this.settings = settings;
        ClientBuilder builder = Client.builder()
                .endpoints(settings.etcd().toArray(java.net.URI[]::new))
                .connectTimeout(REQUEST_TIMEOUT)
                .waitForReady(false); // a request fails while no member is reachable, rather than wait to be sent later
        if (settings.etcdTls() || settings.etcdCa() != null || settings.etcdCert() != null) {
            builder.sslContext(sslContext(settings));
        }
        if (settings.etcdUser() != null) {
            builder.user(bytes(settings.etcdUser())).password(bytes(settings.etcdPassword()));
        }
        this.client = builder.build();
        this.thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "diglett-cluster");
            t.setDaemon(true);
            return t;
        });
    }

    private static SslContext sslContext(ClusterSettings settings) throws javax.net.ssl.SSLException {
        SslContextBuilder tls = SslContextBuilder.forClient();
        if (settings.etcdCa() != null) {
            tls.trustManager(settings.etcdCa().toFile());
        }
        if (settings.etcdCert() != null) {
            tls.keyManager(settings.etcdCert().toFile(), settings.etcdKey().toFile());
        }
        return io.grpc.netty.GrpcSslContexts.configure(tls).build();
    }

    /** This node's name in the cluster. */
    public String node() {
        return settings.nodeName();
    }

    public ClusterSettings settings() {
        return settings;
    }

    /**
     * Joins the cluster: checks that this node presents the cluster's agent certificate ({@code certificate}: a
     * SHA-256 fingerprint, or {@code plaintext}), grants the node's lease, writes the node's key and starts the
     * keepalive. Waits for the store (up to the TTL and a few seconds).
     *
     * @param listen  where agents reach this node, recorded in its key for {@code /api/gateway}
     * @param forward where the other nodes forward connections to this one, or {@code null}
     * @throws IllegalStateException when the certificate differs from the cluster's, or a live node has this name
     * @throws StoreUnavailableException when the store does not answer
     */
    public void start(String certificate, String listen, String forward) throws Exception {
        checkCertificate(certificate);
        lease = await(client.getLeaseClient().grant(settings.leaseTtl().toSeconds())).getID();
        nodeRecord = "diglett-node 1\nlisten=" + listen + "\n" + (forward == null ? "" : "forward=" + forward + "\n")
                + "started=" + Instant.now() + "\n";
        try {
            registerNode(System.nanoTime() + settings.leaseTtl().plusSeconds(3).toNanos())
                    .get(settings.leaseTtl().plusSeconds(10).toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
        answered();
        scheduleKeepAlive(keepAliveEvery());
        log.info("cluster: node {} joined through etcd {} (lease ttl {} s)", node(), settings.etcd(),
                settings.leaseTtl().toSeconds());
    }

    private void checkCertificate(String certificate) throws Exception {
        ByteSequence key = bytes(CERTIFICATE);
        TxnResponse answer = await(client.getKVClient().txn()
                .If(new Cmp(key, Cmp.Op.EQUAL, CmpTarget.createRevision(0)))
                .Then(Op.put(key, bytes(certificate), PutOption.DEFAULT))
                .Else(Op.get(key, GetOption.DEFAULT))
                .commit());
        if (answer.isSucceeded()) {
            log.info("cluster: this node is the first; the agent certificate of the cluster is {}", certificate);
            return;
        }
        List<KeyValue> kvs = answer.getGetResponses().get(0).getKvs();
        String recorded = kvs.isEmpty() ? null : kvs.get(0).getValue().toString(StandardCharsets.US_ASCII);
        if (recorded != null && !recorded.equals(certificate)) {
            throw new IllegalStateException("this node presents agents the certificate " + certificate
                    + ", the cluster's is " + Printable.of(recorded) + " (recorded in etcd at " + CERTIFICATE
                    + "): every node of a cluster presents the same --tls-cert and --tls-key, or all are --plaintext");
        }
    }

    /**
     * Writes the node's key under its lease; while a key of an earlier run of this node holds it, tries again
     * every half second until {@code deadline} (that run's lease expires), then fails: a live node has this name.
     */
    private CompletableFuture<Void> registerNode(long deadline) {
        ByteSequence key = bytes(NODES + node());
        long current = lease;
        return call(() -> client.getKVClient().txn()
                .If(new Cmp(key, Cmp.Op.EQUAL, CmpTarget.createRevision(0)))
                .Then(Op.put(key, bytes(nodeRecord), PutOption.builder().withLeaseId(current).build()))
                .Else(Op.get(key, GetOption.DEFAULT))
                .commit()).thenCompose(answer -> {
                    List<KeyValue> kvs = answer.isSucceeded() ? List.of() : answer.getGetResponses().get(0).getKvs();
                    if (answer.isSucceeded() || !kvs.isEmpty() && kvs.get(0).getLease() == current) {
                        return CompletableFuture.completedFuture(null);
                    }
                    if (System.nanoTime() > deadline) {
                        return CompletableFuture.failedFuture(new IllegalStateException("node name '" + node()
                                + "' is in use by a live node of the cluster (its lease did not expire within "
                                + settings.leaseTtl().plusSeconds(3).toSeconds() + " s); give this node another"
                                + " --node-name"));
                    }
                    log.info("cluster: node name '{}' is still held by an earlier run; waiting for its lease to"
                            + " expire", node());
                    CompletableFuture<Void> again = new CompletableFuture<>();
                    thread.schedule(() -> registerNode(deadline).whenComplete((v, e) -> {
                        if (e != null) {
                            again.completeExceptionally(e);
                        } else {
                            again.complete(null);
                        }
                    }), 500, TimeUnit.MILLISECONDS);
                    return again;
                });
    }

    private long keepAliveEvery() {
        return Math.max(500, settings.leaseTtl().toMillis() / 3);
    }

    private void scheduleKeepAlive(long delayMillis) {
        if (!closed) {
            thread.schedule(this::keepAlive, delayMillis, TimeUnit.MILLISECONDS);
        }
    }

    /** One keepalive of the lease, then the next; a lost lease is replaced. Store thread, never blocking. */
    private void keepAlive() {
        if (closed) {
            return;
        }
        long started = System.nanoTime();
        long current = lease;
        call(() -> client.getLeaseClient().keepAliveOnce(current)).whenComplete((answer, error) -> {
            if (error == null && answer.getTTL() > 0) {
                keepAliveNanos = System.nanoTime() - started;
                answered();
                scheduleKeepAlive(keepAliveEvery());
            } else if (error == null || leaseNotFound(error)) {
                replaceLease(current);
            } else {
                if (up) {
                    log.warn("cluster: etcd does not answer the keepalive ({}); registrations fail until it does,"
                            + " tunnels keep serving", Printable.of(reason(error)));
                }
                up = false;
                scheduleKeepAlive(RETRY_MILLIS);
            }
        });
    }

    /** The store expired the lease (it did not hear this node for the TTL): every name under it is gone. */
    private void replaceLease(long expired) {
        log.warn("cluster: etcd expired this node's lease; its names were released, and a new lease is taken");
        up = false;
        for (LongConsumer listener : leaseLost) {
            listener.accept(expired);
        }
        call(() -> client.getLeaseClient().grant(settings.leaseTtl().toSeconds())).thenCompose(grant -> {
            lease = grant.getID();
            return registerNode(System.nanoTime() + settings.leaseTtl().plusSeconds(3).toNanos());
        }).whenComplete((v, error) -> {
            if (error == null) {
                answered();
                scheduleKeepAlive(keepAliveEvery());
            } else {
                log.warn("cluster: cannot take a new lease yet: {}", Printable.of(reason(error)));
                scheduleKeepAlive(RETRY_MILLIS);
            }
        });
    }

    private void answered() {
        lastAnswerNanos = System.nanoTime();
        if (!up) {
            up = true;
            log.info("cluster: etcd answers (lease {})", Long.toHexString(lease));
        }
    }

    private static boolean leaseNotFound(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getMessage() != null && t.getMessage().contains("requested lease not found")) {
                return true;
            }
        }
        return false;
    }

    /** Tells {@code listener} (on the store's thread) the id of a lease the store expired. */
    void onLeaseLost(LongConsumer listener) {
        leaseLost.add(listener);
    }

    /** The node's lease now (every name it claims is written under it). */
    long lease() {
        return lease;
    }

    /** Whether the store answered the last keepalive. */
    public boolean up() {
        return up;
    }

    /** How long the last answered keepalive took, in seconds ({@code -1} before one). */
    public double keepAliveSeconds() {
        long nanos = keepAliveNanos;
        return nanos < 0 ? -1 : nanos / 1e9;
    }

    /** Seconds since the store last answered a keepalive. */
    public double silentSeconds() {
        return (System.nanoTime() - lastAnswerNanos) / 1e9;
    }

    /** Why the store is not used now, for an agent's refusal. */
    StoreUnavailableException unavailable() {
        return new StoreUnavailableException("etcd has not answered for "
                + String.format(java.util.Locale.ROOT, "%.0f", silentSeconds()) + " s");
    }

    Client client() {
        return client;
    }

    /** The store's thread: what the registry keeps of the store's state is touched there. */
    ScheduledExecutorService thread() {
        return thread;
    }

    /**
     * {@code request} with the request timeout; a failure that is the store's (no answer, no connection)
     * completes with a {@link StoreUnavailableException}, on the store's thread.
     */
    <T> CompletableFuture<T> call(Supplier<CompletableFuture<T>> request) {
        CompletableFuture<T> answer = new CompletableFuture<>();
        CompletableFuture<T> sent;
        try {
            sent = request.get();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        sent.orTimeout(REQUEST_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).whenCompleteAsync((value, error) -> {
            if (error == null) {
                answer.complete(value);
            } else {
                answer.completeExceptionally(new StoreUnavailableException(reason(error)));
            }
        }, thread);
        return answer;
    }

    /** Waits for {@code request} (at most the request timeout), for the start and the store's own thread. */
    private <T> T await(CompletableFuture<T> request) throws Exception {
        try {
            return request.get(REQUEST_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            request.cancel(false);
            throw new StoreUnavailableException("etcd " + settings.etcd() + " did not answer within "
                    + REQUEST_TIMEOUT.toSeconds() + " s");
        } catch (ExecutionException e) {
            if (leaseNotFound(e)) {
                throw e;
            }
            throw new StoreUnavailableException(reason(e));
        }
    }

    static String reason(Throwable error) {
        Throwable cause = error;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException)
                && cause.getCause() != null) {
            cause = cause.getCause();
        }
        if (cause instanceof TimeoutException) {
            return "no answer within " + REQUEST_TIMEOUT.toSeconds() + " s";
        }
        if (cause instanceof StoreUnavailableException) {
            return cause.getMessage();
        }
        return cause.getMessage() != null ? cause.getMessage() : cause.getClass().getSimpleName();
    }

    static ByteSequence bytes(String text) {
        return ByteSequence.from(text, StandardCharsets.UTF_8);
    }

    /** Leaves the cluster: the lease is revoked (the node's names go at once, not after the TTL). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        thread.shutdownNow();
        try {
            client.getLeaseClient().revoke(lease).get(REQUEST_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            log.info("cluster: could not revoke the lease ({}); its names expire after {} s", Printable.of(reason(e)),
                    settings.leaseTtl().toSeconds());
        }
        client.close();
    }
}
