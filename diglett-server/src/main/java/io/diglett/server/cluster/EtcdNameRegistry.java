package io.diglett.server.cluster;

import io.diglett.protocol.Printable;
import io.diglett.common.HostPort;
import io.diglett.common.transport.Transport;
import io.diglett.server.config.ClusterSettings;
import io.diglett.server.link.NameClaim;
import io.diglett.server.link.NameListeners;
import io.diglett.server.link.NameRegistry;
import io.diglett.server.link.NameTakenException;
import io.diglett.server.link.PublicListeners;
import io.diglett.server.link.RemoteHolder;
import io.diglett.server.link.StreamTarget;
import io.diglett.server.link.Tunnel;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The names of a cluster, in etcd ({@link EtcdStore}): a claim is a transaction "create {@code names/NAME} if
 * absent", written under this node's lease, whose revision (the key's mod revision) is the claim's fencing number. A second claim
 * anywhere in the cluster finds the holder's record and is refused ({@link NameTakenException} with the
 * {@link RemoteHolder}), or replaces exactly that holder when the takeover rule allows it ({@link #claimFrom}).
 *
 * <p>A claim is lost when its key goes (the store expired this node's lease, or an operator deleted it) or is
 * replaced (a takeover from another node): a watch of {@code names/} sees both, and also keeps the map of every
 * name's holder node that {@code /api/gateway} shows. A release deletes the key if it is still this claim's;
 * while the store does not answer it is tried again every second, until it is done or the lease is gone.
 *
 * <p>Threads: claims are asked from event loops and answered on the store's thread; the store's answers, the
 * watches and the retries run there too. The maps are concurrent: {@link #lookup} reads them from any thread.
 */
public final class EtcdNameRegistry implements NameRegistry, ClusterView {

    private static final Logger log = LoggerFactory.getLogger(EtcdNameRegistry.class);
    private static final long RELEASE_RETRY_MILLIS = 1_000;

    private final EtcdStore store;
    /** This node's claims, granted or in flight, by name. */
    private final ConcurrentMap<String, Held> local = new ConcurrentHashMap<>();
    /** Every name of the cluster and its holder, as the watch last saw it. */
    private final ConcurrentMap<String, RemoteHolder> holders = new ConcurrentHashMap<>();
    /** The live nodes and where agents reach each, as the watch last saw them. */
    private final ConcurrentMap<String, String> nodes = new ConcurrentHashMap<>();
    private final NameListeners listeners = new NameListeners();
    private final List<Watch.Watcher> watchers = new CopyOnWriteArrayList<>();
    /** Where each live node takes forwarded connections (nodes with forwarding only). */
    private final ConcurrentMap<String, InetSocketAddress> forwardAddresses = new ConcurrentHashMap<>();
    private volatile boolean closed;
    /** The revision of the watch event (or read) being applied now (store thread). */
    private long eventRevision;
    /** This node's writes not yet seen by its watch: revision to when the write was sent (store thread). */
    private final java.util.LinkedHashMap<Long, Long> unseen = new java.util.LinkedHashMap<>();
    /** Revisions the watch reported before the write's own answer came: revision to when (store thread). */
    private final java.util.LinkedHashMap<Long, Long> seenFirst = new java.util.LinkedHashMap<>();
    /** How long the watch took to report this node's last write it reported, in seconds; -1 before one. */
    private volatile double watchLag = -1;
    /** Cut off from the store the other nodes reach (checkPartition): it forwards nothing, takes no forward. */
    private volatile boolean partitioned;
    private boolean probing;
    /**
     * When the next probe round may start (nanoTime; store thread): after a round in which the others said the
     * store is down for them too, not before {@link #PROBE_PAUSE_NANOS}, so that an outage of everyone costs each
     * node a round of probes every few seconds, not every second.
     */
    private long nextProbe;
    static final long PROBE_PAUSE_NANOS = TimeUnit.SECONDS.toNanos(5);
    private volatile java.util.function.Consumer<String> onPartitioned;
    /** This node's side of forwarding, or {@code null} without {@code --node-listen}. */
    private volatile NodeForwarder forwarder;
    private ForwardListener forwardListener;
    /** Every raw public port of the cluster and the name it belongs to, as the watch last saw. */
    private final ConcurrentMap<Integer, String> ports = new ConcurrentHashMap<>();
    /**
     * Ports whose claim went (their node stopped, or lost its lease) by the name that had each, and when (nanoTime),
     * oldest first: the name's next registration anywhere asks for the same port again. At most
     * {@link #RELEASED_PORTS} of them, each for {@link #RELEASED_PORT_NANOS}.
     */
    private final Map<String, long[]> releasedPorts = java.util.Collections.synchronizedMap(
            new java.util.LinkedHashMap<>());
    static final int RELEASED_PORTS = 10_000;
    static final long RELEASED_PORT_NANOS = TimeUnit.MINUTES.toNanos(10);
    /** This node's listeners on the ports of names other nodes hold (store thread). */
    private final Map<Integer, Mirror> mirrors = new java.util.HashMap<>();
    private PublicListeners publicListeners;
    private EventLoopGroup workers;

    /** A listener of this node on the port of a name another node holds. */
    private record Mirror(String name, io.netty.channel.ChannelFuture bound) {
        void close() {
            bound.addListener(f -> {
                if (f.isSuccess()) {
                    bound.channel().close();
                }
            });
        }
    }

    public EtcdNameRegistry(EtcdStore store) {
        this.store = store;
        store.onLeaseLost(this::leaseLost);
    }

    @Override
    public boolean shared() {
        return true;
    }

    /** The cluster's ACME state ({@code --acme}), in the same etcd. */
    public io.diglett.server.acme.AcmeStore acmeStore() {
        return new EtcdAcmeStore(store);
    }

    /**
     * Joins the cluster: with forwarding, binds {@code --node-listen} first; then {@link EtcdStore#start}; then
     * loads the cluster's names and nodes and starts watching them.
     *
     * @param certificate the agent certificate's fingerprint ({@code SHA256:...}), or {@code plaintext}
     * @param listen      where agents reach this node
     * @param window      a node link's receive window per stream (the agent links')
     * @param flow        the limits of node links' streams (the agent links')
     * @param maxStreams  the streams a node link to this node may have open (--max-streams-per-agent)
     * @throws IllegalStateException      when the certificate is not the cluster's, or a live node has this name
     * @throws StoreUnavailableException when the store does not answer
     */
    public void join(String certificate, String listen, Transport transport, EventLoopGroup acceptor,
                     EventLoopGroup workers, PublicListeners publicListeners, int window,
                     io.diglett.protocol.mux.FlowLimits flow, int maxStreams) throws Exception {
        ClusterSettings settings = store.settings();
        this.publicListeners = publicListeners;
        this.workers = workers;
        String forward = null;
        if (settings.forwarding()) {
            // any node may answer a visitor of any name: the OpenID login's cookies are the cluster's, not a node's
            io.diglett.server.visitor.SessionKeys.use(settings.secret());
            forwardListener = ForwardListener.bind(settings.nodeListen(), this, settings.secret(), window, flow,
                    maxStreams, transport, acceptor, workers);
            forwarder = new NodeForwarder(transport, settings.secret(), workers, window, flow);
            forward = new HostPort(settings.nodeListen().host(), forwardListener.address().getPort()).toString();
        }
        store.start(certificate, listen, forward);
        store.thread().scheduleWithFixedDelay(() -> {
            try {
                checkPartition();
            } catch (RuntimeException e) {
                log.error("cluster: checking for a partition failed", e);
            }
        }, 1, 1, TimeUnit.SECONDS);
        try {
            CompletableFuture.allOf(watch(EtcdStore.NAMES, this::nameChanged, holders::clear),
                    watch(EtcdStore.NODES, this::nodeChanged, () -> {
                        nodes.clear();
                        forwardAddresses.clear();
                    }),
                    watch(EtcdStore.PORTS, this::portChanged, ports::clear))
                    .get(EtcdStore.REQUEST_TIMEOUT.toMillis() * 2, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
    }

    /**
     * Reads everything under {@code prefix}, then watches it from the revision read; after a failure of the watch,
     * the same again a second later. Never blocks: the answers come on the store's thread.
     */
    private CompletableFuture<Void> watch(String prefix, BiConsumer<String, KeyValue> changed, Runnable clear) {
        ByteSequence key = EtcdStore.bytes(prefix);
        return store.call(() -> store.client().getKVClient().get(key, GetOption.builder().isPrefix(true).build()))
                .thenAccept(all -> {
                    clear.run();
                    eventRevision = all.getHeader().getRevision();
                    java.util.Set<String> present = new java.util.HashSet<>();
                    for (KeyValue kv : all.getKvs()) {
                        present.add(suffix(kv, prefix));
                        changed.accept(suffix(kv, prefix), kv);
                    }
                    if (prefix.equals(EtcdStore.NAMES)) {
                        // a claim of this node deleted while no watch ran (a compaction ended it, say) was seen
                        // by no event: what the read no longer has is deleted, as an event would have said
                        for (String name : List.copyOf(local.keySet())) {
                            if (!present.contains(name)) {
                                changed.accept(name, null);
                            }
                        }
                    }
                    syncMirrors();
                    WatchOption option = WatchOption.builder().isPrefix(true).withPrevKV(true)
                            .withRevision(all.getHeader().getRevision() + 1).build();
                    java.util.concurrent.atomic.AtomicReference<Watch.Watcher> self =
                            new java.util.concurrent.atomic.AtomicReference<>();
                    Watch.Watcher watcher = store.client().getWatchClient().watch(key, option, Watch.listener(
                            response -> store.thread().execute(() -> watched(prefix, response, changed)),
                            error -> store.thread().execute(() -> {
                                // one watcher per prefix at a time: a failed one is dropped, not kept for ever
                                Watch.Watcher failed = self.getAndSet(null);
                                if (failed != null) {
                                    watchers.remove(failed);
                                    failed.close();
                                }
                                if (!closed) {
                                    log.warn("cluster: the watch of {} failed ({}); reading it again", prefix,
                                            Printable.of(EtcdStore.reason(error)));
                                    rewatch(prefix, changed, clear);
                                }
                            })));
                    self.set(watcher);
                    watchers.add(watcher);
                });
    }

    private void rewatch(String prefix, BiConsumer<String, KeyValue> changed, Runnable clear) {
        store.thread().schedule(() -> {
            if (!closed) {
                watch(prefix, changed, clear).whenComplete((v, e) -> {
                    if (e != null) {
                        rewatch(prefix, changed, clear);
                    }
                });
            }
        }, RELEASE_RETRY_MILLIS, TimeUnit.MILLISECONDS);
    }

    private void watched(String prefix, WatchResponse response, BiConsumer<String, KeyValue> changed) {
        try {
            each(prefix, response, changed);
        } finally {
            syncMirrors();
        }
    }

    private void each(String prefix, WatchResponse response, BiConsumer<String, KeyValue> changed) {
        for (WatchEvent event : response.getEvents()) {
            KeyValue kv = event.getKeyValue();
            eventRevision = kv.getModRevision(); // a DELETE's too: the revision that deleted the key
            String name = suffix(kv, prefix);
            if (event.getEventType() == WatchEvent.EventType.DELETE) {
                changed.accept(name, null);
            } else if (event.getEventType() == WatchEvent.EventType.PUT) {
                changed.accept(name, kv);
            }
        }
    }

    private static String suffix(KeyValue kv, String prefix) {
        return kv.getKey().toString(StandardCharsets.UTF_8).substring(prefix.length());
    }

    /**
     * This node's write sent at {@code sent} (System.nanoTime) was done at {@code revision}: the watch's report of
     * it, before or after this answer, gives the watch's lag, from the write's start.
     */
    private void wrote(long revision, long sent) {
        store.thread().execute(() -> {
            Long seenAt = seenFirst.remove(revision);
            if (seenAt != null) {
                watchLag = (seenAt - sent) / 1e9;
                return;
            }
            unseen.put(revision, sent);
            if (unseen.size() > 64) { // reports that never come (a key written over at once) are dropped
                unseen.remove(unseen.keySet().iterator().next());
            }
        });
    }

    /** The watch reported a write at {@code revision}: if it was this node's, how long that took. Store thread. */
    private void seen(long revision) {
        long now = System.nanoTime();
        Long sent = unseen.remove(revision);
        if (sent != null) {
            watchLag = (now - sent) / 1e9;
            return;
        }
        seenFirst.put(revision, now); // perhaps this node's, its answer not processed yet
        if (seenFirst.size() > 64) {
            seenFirst.remove(seenFirst.keySet().iterator().next());
        }
    }

    /** A name's key changed ({@code kv}) or went ({@code null}): the map, and a claim of ours it ends. Store thread. */
    private void nameChanged(String name, KeyValue kv) {
        if (kv != null) {
            seen(kv.getModRevision());
        }
        RemoteHolder holder = null;
        RemoteHolder known = holders.get(name);
        if (kv != null && known != null && known.fence() == kv.getModRevision()) {
            holder = known; // the same record again: its policy's rate buckets and verified logins carry on
        } else if (kv != null) {
            try {
                holder = HolderRecord.decode(kv.getValue().getBytes(), kv.getModRevision());
                if (holder.visitors().closedBecause() != null) {
                    log.warn("cluster: the visitor policy of name '{}' cannot be read here ({}): its clients are"
                            + " refused on this node; upgrade it", Printable.of(name),
                            Printable.of(holder.visitors().closedBecause()));
                }
            } catch (IllegalArgumentException e) {
                log.warn("cluster: the record of name '{}' in etcd is not a holder record ({})", Printable.of(name),
                        Printable.of(e.getMessage()));
            }
        }
        if (holder == null) {
            holders.remove(name);
        } else {
            holders.put(name, holder);
        }
        Held held = local.get(name);
        if (held == null || held.fence == 0 || eventRevision <= held.fence) {
            return; // not ours, our claim is still being written, or an event from before our claim
        }
        if (kv == null) {
            held.lose("deleted from the cluster store");
        } else if (kv.getModRevision() != held.fence) {
            held.lose("taken over by an agent on node " + (holder == null ? "(unknown)" : holder.node()));
        }
    }

    private void nodeChanged(String node, KeyValue kv) {
        try {
            ClusterSettings.checkNodeName(node);
        } catch (IllegalArgumentException e) {
            // not written by a node of ours (every node checks its --node-name): nothing to route to
            log.warn("cluster: ignoring the key of node {} in the store: {}", Printable.of(node), e.getMessage());
            return;
        }
        if (kv == null) {
            nodes.remove(node);
            forwardAddresses.remove(node);
            return;
        }
        String listen = "";
        InetSocketAddress forward = null;
        for (String line : kv.getValue().toString(StandardCharsets.US_ASCII).split("\n")) {
            if (line.startsWith("listen=")) {
                listen = Printable.of(line.substring("listen=".length()));
            } else if (line.startsWith("forward=")) {
                try {
                    HostPort at = HostPort.parse(line.substring("forward=".length()), -1);
                    forward = new InetSocketAddress(at.host(), at.port());
                } catch (IllegalArgumentException e) {
                    log.warn("cluster: node {} gives a forwarding address that is not HOST:PORT",
                            Printable.of(node));
                }
            }
        }
        nodes.put(Printable.of(node), listen);
        if (forward != null) {
            forwardAddresses.put(node, forward);
        } else {
            forwardAddresses.remove(node);
        }
    }

    /**
     * Cut off, or is the store down? Once the store has been silent for longer than the lease TTL (this node's
     * names are then free in the store, if the store is up at all), the other nodes are asked: when one reaches
     * the store, this node is cut off from it, and it sends its agents away so that they register where the
     * store is reachable (once). When one answers and none reaches it, the store is down, and everyone keeps
     * serving. When none answers at all, this node is most likely cut off from both (its own network split from
     * the cluster's): its names may already be another agent's elsewhere, so it sends its agents away too.
     * Store thread.
     */
    private void checkPartition() {
        if (closed) {
            return;
        }
        if (store.up()) {
            if (partitioned) {
                log.info("cluster: this node reaches the cluster store again");
            }
            partitioned = false;
            probing = false;
            nextProbe = 0;
            return;
        }
        if (nextProbe != 0 && System.nanoTime() - nextProbe < 0) {
            return;
        }
        NodeForwarder forwarding = forwarder;
        if (partitioned || probing || forwarding == null
                || store.silentSeconds() < store.settings().leaseTtl().toSeconds()) {
            return;
        }
        List<InetSocketAddress> peers = new ArrayList<>();
        forwardAddresses.forEach((node, address) -> {
            if (!node.equals(store.node())) {
                peers.add(address);
            }
        });
        if (peers.isEmpty()) {
            return;
        }
        probing = true;
        log.info("cluster: etcd silent for {} s: asking {} other node(s) whether they reach it",
                String.format(java.util.Locale.ROOT, "%.0f", store.silentSeconds()), peers.size());
        List<CompletableFuture<NodeForwarder.Probed>> answers = new ArrayList<>();
        long silentMillis = Math.round(store.silentSeconds() * 1000);
        for (InetSocketAddress peer : peers) {
            answers.add(forwarding.probe(peer, silentMillis));
        }
        CompletableFuture.allOf(answers.toArray(CompletableFuture[]::new)).whenCompleteAsync((v, e) -> {
            probing = false;
            List<NodeForwarder.Probed> said = answers.stream()
                    .map(answer -> answer.getNow(NodeForwarder.Probed.SILENT)).toList();
            boolean others = said.contains(NodeForwarder.Probed.REACHES);
            boolean alone = said.stream().allMatch(NodeForwarder.Probed.SILENT::equals);
            if (!others && !alone || store.up() || partitioned || closed) {
                nextProbe = System.nanoTime() + PROBE_PAUSE_NANOS;
                return;
            }
            partitioned = true;
            String reason = others
                    ? "node " + store.node() + " cannot reach the cluster store, which the other nodes can;"
                            + " connect to another node"
                    : "node " + store.node() + " reaches neither the cluster store nor any other node;"
                            + " connect to another node";
            log.warn("cluster: {} (etcd silent for {} s): sending this node's agents away", reason,
                    String.format(java.util.Locale.ROOT, "%.0f", store.silentSeconds()));
            java.util.function.Consumer<String> listener = onPartitioned;
            if (listener != null) {
                listener.accept(reason);
            }
        }, store.thread());
    }

    /** Whether this node found itself cut off from the store that the other nodes reach. */
    @Override
    public boolean partitioned() {
        return partitioned;
    }

    /**
     * Runs {@code listener} (on the store's thread) with the reason when this node finds itself cut off from the
     * store.
     */
    public void onPartitioned(java.util.function.Consumer<String> listener) {
        this.onPartitioned = listener;
    }

    /** A port's key changed ({@code kv}: the name it belongs to) or went ({@code null}). Store thread. */
    private void portChanged(String port, KeyValue kv) {
        int number;
        try {
            number = Integer.parseInt(port);
        } catch (NumberFormatException e) {
            return;
        }
        if (kv == null) {
            String name = ports.remove(number);
            if (name != null) {
                synchronized (releasedPorts) {
                    releasedPorts.remove(name);
                    releasedPorts.put(name, new long[] {number, System.nanoTime()});
                    java.util.Iterator<long[]> oldest = releasedPorts.values().iterator();
                    while (releasedPorts.size() > RELEASED_PORTS && oldest.hasNext()) {
                        oldest.next();
                        oldest.remove();
                    }
                }
            }
        } else {
            seen(kv.getModRevision());
            ports.put(number, kv.getValue().toString(StandardCharsets.US_ASCII));
        }
    }

    /**
     * Listens on the port of every name another node holds (this node's connections there are forwarded), and on
     * no other: a mirror whose name went, moved here or changed port is closed. Store thread.
     */
    private void syncMirrors() {
        if (publicListeners == null || forwarder == null || closed) {
            return;
        }
        Map<Integer, String> wanted = new java.util.HashMap<>();
        ports.forEach((port, name) -> {
            RemoteHolder holder = holders.get(name);
            if (holder != null && !holder.node().equals(store.node()) && local.get(name) == null) {
                wanted.put(port, name);
            }
        });
        mirrors.entrySet().removeIf(entry -> {
            if (entry.getValue().name().equals(wanted.get(entry.getKey()))) {
                return false;
            }
            log.info("cluster: no longer listening on port {} for '{}'", entry.getKey(),
                    Printable.of(entry.getValue().name()));
            entry.getValue().close();
            return true;
        });
        wanted.forEach((port, name) -> mirrors.computeIfAbsent(port, p -> {
            io.netty.channel.ChannelFuture bound = publicListeners.bindElsewhere(p, name, () -> target(name), workers);
            Mirror mirror = new Mirror(name, bound);
            bound.addListener(f -> store.thread().execute(() -> mirrorBound(p, mirror)));
            return mirror;
        }));
    }

    /**
     * A mirror's listener is bound, or could not be: then it is forgotten and tried again in a second (the port may
     * be this node's own listener, still closing). Store thread.
     */
    private void mirrorBound(int port, Mirror mirror) {
        String holder = holders.containsKey(mirror.name()) ? holders.get(mirror.name()).node() : "(gone)";
        if (mirror.bound().isSuccess()) {
            log.info("cluster: listening on port {} for '{}', which node {} holds", port, Printable.of(mirror.name()),
                    holder);
            return;
        }
        mirrors.remove(port, mirror);
        store.thread().schedule(this::syncMirrors, RELEASE_RETRY_MILLIS, TimeUnit.MILLISECONDS);
        log.warn("cluster: cannot listen on port {} of '{}', which node {} holds: {}", port, Printable.of(mirror.name()),
                holder,
                Printable.of(String.valueOf(mirror.bound().cause().getMessage())));
    }

    /** This node's mirror of {@code name}'s port, closed (the name is about to be this node's). Store thread. */
    private CompletableFuture<Void> closeMirror(String name) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        store.thread().execute(() -> {
            List<CompletableFuture<Void>> closing = new ArrayList<>();
            mirrors.entrySet().removeIf(entry -> {
                if (!entry.getValue().name().equals(name)) {
                    return false;
                }
                CompletableFuture<Void> closed = new CompletableFuture<>();
                entry.getValue().bound().addListener(f -> {
                    if (f.isSuccess()) {
                        entry.getValue().bound().channel().close().addListener(c -> closed.complete(null));
                    } else {
                        closed.complete(null);
                    }
                });
                closing.add(closed);
                return true;
            });
            CompletableFuture.allOf(closing.toArray(CompletableFuture[]::new)).whenComplete((v, e) -> done.complete(null));
        });
        return done;
    }

    /** Asks the holder's node whether that agent answers; {@code true} when it cannot be asked. */
    @Override
    public CompletionStage<Boolean> holderAlive(String name, RemoteHolder holder) {
        NodeForwarder forwarding = forwarder;
        InetSocketAddress address = forwardAddresses.get(holder.node());
        if (forwarding == null || address == null) {
            return CompletableFuture.completedFuture(true);
        }
        return forwarding.alive(address, name, holder.fence());
    }

    /**
     * The port {@code name} has in the cluster now (an earlier holder's, being taken over), or had until its node
     * stopped or lost its lease less than {@link #RELEASED_PORT_NANOS} ago and nobody claimed since; 0 if none.
     */
    @Override
    public int previousPort(String name) {
        for (Map.Entry<Integer, String> entry : ports.entrySet()) {
            if (entry.getValue().equals(name)) {
                return entry.getKey();
            }
        }
        long[] released = releasedPorts.get(name);
        if (released == null || System.nanoTime() - released[1] > RELEASED_PORT_NANOS
                || ports.containsKey((int) released[0])) {
            return 0;
        }
        return (int) released[0];
    }

    /**
     * Claims {@code port} for {@code tunnel}'s name in the cluster: granted when no name holds it, or when it is
     * this very name's (an earlier holder's, taken over with the name); the claim is deleted when the listener
     * closes.
     */
    @Override
    public CompletionStage<Boolean> claimPort(Tunnel tunnel, int port, io.netty.channel.Channel listener) {
        if (!store.up()) {
            return CompletableFuture.failedFuture(store.unavailable());
        }
        ByteSequence key = EtcdStore.bytes(EtcdStore.PORTS + port);
        ByteSequence value = EtcdStore.bytes(tunnel.name());
        long lease = store.lease();
        long sent = System.nanoTime();
        return store.call(() -> store.client().getKVClient().txn()
                        .If(new Cmp(key, Cmp.Op.EQUAL, CmpTarget.createRevision(0)))
                        .Then(Op.put(key, value, PutOption.builder().withLeaseId(lease).build()))
                        .Else(Op.get(key, GetOption.DEFAULT))
                        .commit())
                .thenCompose(answer -> {
                    if (answer.isSucceeded()) {
                        return CompletableFuture.completedFuture(answer.getHeader().getRevision());
                    }
                    List<KeyValue> kvs = answer.getGetResponses().get(0).getKvs();
                    if (kvs.isEmpty() || !kvs.get(0).getValue().equals(value)) {
                        return CompletableFuture.completedFuture(0L); // another name's
                    }
                    long seen = kvs.get(0).getModRevision();
                    return store.call(() -> store.client().getKVClient().txn()
                                    .If(new Cmp(key, Cmp.Op.EQUAL, CmpTarget.modRevision(seen)))
                                    .Then(Op.put(key, value, PutOption.builder().withLeaseId(lease).build()))
                                    .commit())
                            .thenApply(put -> put.isSucceeded() ? put.getHeader().getRevision() : 0L);
                })
                .thenApply(revision -> {
                    if (revision == 0) {
                        return false;
                    }
                    wrote(revision, sent);
                    listener.closeFuture().addListener(f -> releasePort(key, revision, lease));
                    return true;
                })
                .whenComplete((granted, error) -> {
                    if (error != null && unknownOutcome(error)) {
                        forgetAttempt(key, value, tunnel.name(), 0);
                    }
                });
    }

    /** Deletes a port's key if it is still the claim of {@code revision}; tried again while the store is away. */
    private void releasePort(ByteSequence key, long revision, long lease) {
        if (closed || lease != store.lease()) {
            return;
        }
        store.call(() -> store.client().getKVClient().txn()
                        .If(new Cmp(key, Cmp.Op.EQUAL, CmpTarget.modRevision(revision)))
                        .Then(Op.delete(key, DeleteOption.DEFAULT))
                        .commit())
                .whenComplete((answer, error) -> {
                    if (error != null) {
                        store.thread().schedule(() -> releasePort(key, revision, lease), RELEASE_RETRY_MILLIS,
                                TimeUnit.MILLISECONDS);
                    }
                });
    }

    /** The store expired lease {@code expired}: every name claimed under it is gone. Store thread. */
    private void leaseLost(long expired) {
        for (Held held : new ArrayList<>(local.values())) {
            if (held.lease == expired && held.fence != 0) {
                held.lose("this node lost its lease in the cluster store (etcd did not hear from it for "
                        + store.settings().leaseTtl().toSeconds() + " s)");
            }
        }
    }

    // ---------------------------------------------------------------- NameRegistry

    @Override
    public CompletionStage<NameClaim> claim(Tunnel tunnel) {
        String name = tunnel.name();
        Held held = new Held(tunnel);
        Held before = local.putIfAbsent(name, held);
        if (before != null) {
            return CompletableFuture.failedFuture(new NameTakenException(name, before.tunnel));
        }
        if (!store.up()) {
            local.remove(name, held);
            return CompletableFuture.failedFuture(store.unavailable());
        }
        ByteSequence key = EtcdStore.bytes(EtcdStore.NAMES + name);
        ByteSequence value = value(tunnel);
        long lease = store.lease();
        return store.call(() -> store.client().getKVClient().txn()
                        .If(new Cmp(key, Cmp.Op.EQUAL, CmpTarget.createRevision(0)))
                        .Then(Op.put(key, value, PutOption.builder().withLeaseId(lease).build()))
                        .Else(Op.get(key, GetOption.DEFAULT))
                        .commit())
                .thenCompose(answer -> {
                    if (answer.isSucceeded()) {
                        held.written(answer.getHeader().getRevision(), lease);
                        return closeMirror(name).thenApply(v -> held.granted());
                    }
                    RemoteHolder holder = holderIn(answer);
                    if (holder != null && holder.node().equals(store.node())) {
                        // our own key, released here and not yet deleted in the store: this node may replace it
                        return replace(held, key, holder, lease);
                    }
                    return CompletableFuture.<NameClaim>failedFuture(new NameTakenException(name, null, holder));
                })
                .whenComplete((claim, error) -> {
                    if (error != null) {
                        local.remove(name, held);
                        if (unknownOutcome(error)) {
                            forgetAttempt(key, value, name, 0);
                        }
                    }
                });
    }

    /** Whether a claim failed without an answer: its write may or may not have been done. */
    private static boolean unknownOutcome(Throwable error) {
        Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
                ? error.getCause() : error;
        return cause instanceof StoreUnavailableException;
    }

    /**
     * A claim of {@code name} (its key, or its port's) failed without an answer: the agent was told it failed, but
     * etcd may have written it, under this node's lease, where it would stay while the node lives and keep the
     * name (or the port) from every other agent. Once the store answers, the key is read back, and deleted if it
     * is that very claim ({@code value}: this node, the agent's token digest and instance; or the name, for a
     * port) and no claim of the name is under way here since. Tried for at most {@link #FORGET_TRIES} seconds.
     */
    private void forgetAttempt(ByteSequence key, ByteSequence value, String name, int tries) {
        if (closed || tries >= FORGET_TRIES) {
            return;
        }
        Runnable again = () -> store.thread().schedule(() -> forgetAttempt(key, value, name, tries + 1),
                RELEASE_RETRY_MILLIS, TimeUnit.MILLISECONDS);
        if (!store.up()) {
            again.run();
            return;
        }
        store.call(() -> store.client().getKVClient().get(key, GetOption.DEFAULT)).whenComplete((read, error) -> {
            if (error != null) {
                again.run();
                return;
            }
            if (read.getKvs().isEmpty() || !read.getKvs().get(0).getValue().equals(value) || local.containsKey(name)) {
                return; // not written, someone else's, or a newer claim here deals with it
            }
            long written = read.getKvs().get(0).getModRevision();
            log.info("cluster: removing the claim of '{}' (revision {}) whose write got no answer", name, written);
            store.call(() -> store.client().getKVClient().txn()
                            .If(new Cmp(key, Cmp.Op.EQUAL, CmpTarget.modRevision(written)))
                            .Then(Op.delete(key, DeleteOption.DEFAULT))
                            .commit())
                    .whenComplete((deleted, failed) -> {
                        if (failed != null) {
                            again.run();
                        }
                    });
        });
    }

    /** How many times (a second apart) a claim that got no answer is looked for, to be deleted. */
    static final int FORGET_TRIES = 60;

    @Override
    public CompletionStage<NameClaim> claimFrom(Tunnel tunnel, RemoteHolder holder) {
        String name = tunnel.name();
        Held held = new Held(tunnel);
        Held before = local.putIfAbsent(name, held);
        if (before != null) {
            return CompletableFuture.failedFuture(new NameTakenException(name, before.tunnel));
        }
        if (!store.up()) {
            local.remove(name, held);
            return CompletableFuture.failedFuture(store.unavailable());
        }
        return replace(held, EtcdStore.bytes(EtcdStore.NAMES + name), holder, store.lease())
                .whenComplete((claim, error) -> {
                    if (error != null) {
                        local.remove(name, held);
                    }
                });
    }

    /** Writes {@code held}'s claim in place of {@code holder}'s, if that is still the name's holder. */
    private CompletableFuture<NameClaim> replace(Held held, ByteSequence key, RemoteHolder holder, long lease) {
        return store.call(() -> store.client().getKVClient().txn()
                        .If(new Cmp(key, Cmp.Op.EQUAL, CmpTarget.modRevision(holder.fence())))
                        .Then(Op.put(key, value(held.tunnel), PutOption.builder().withLeaseId(lease).build()))
                        .Else(Op.get(key, GetOption.DEFAULT))
                        .commit())
                .thenCompose(answer -> {
                    if (!answer.isSucceeded()) {
                        return CompletableFuture.failedFuture(new NameTakenException(held.name(), null,
                                holderIn(answer)));
                    }
                    held.written(answer.getHeader().getRevision(), lease);
                    return closeMirror(held.name()).thenApply(v -> held.granted());
                });
    }

    /** The holder record of {@code tunnel}'s claim. */
    private ByteSequence value(Tunnel tunnel) {
        return ByteSequence.from(HolderRecord.encode(store.node(), tunnel.ownerTokenDigest(), tunnel.ownerInstance(),
                tunnel.tlsPassthrough(), tunnel.visitors().policy()));
    }

    /** The holder a failed transaction read, or {@code null} when the key went meanwhile or is not ours to read. */
    private static RemoteHolder holderIn(TxnResponse answer) {
        if (answer.getGetResponses().isEmpty() || answer.getGetResponses().get(0).getKvs().isEmpty()) {
            return null;
        }
        KeyValue kv = answer.getGetResponses().get(0).getKvs().get(0);
        try {
            return HolderRecord.decode(kv.getValue().getBytes(), kv.getModRevision());
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /**
     * A live tunnel of this node, else (with forwarding) the node that holds the name, if that node takes
     * forwarded connections.
     */
    @Override
    public Optional<StreamTarget> target(String name) {
        Optional<StreamTarget> here = NameRegistry.super.target(name);
        NodeForwarder forwarding = forwarder;
        if (here.isPresent() || forwarding == null || partitioned) {
            return here;
        }
        RemoteHolder holder = holders.get(name);
        if (holder == null || holder.node().equals(store.node())) {
            return Optional.empty();
        }
        InetSocketAddress address = forwardAddresses.get(holder.node());
        return address == null ? Optional.empty()
                : Optional.of(new RemoteName(name, holder, address, forwarding));
    }

    @Override
    public Optional<Tunnel> lookup(String name) {
        Held held = local.get(name);
        return held == null || held.fence == 0 ? Optional.empty() : Optional.of(held.tunnel);
    }

    @Override
    public List<Tunnel> live() {
        List<Tunnel> live = new ArrayList<>();
        for (Held held : local.values()) {
            if (held.fence != 0 && held.tunnel.live()) {
                live.add(held.tunnel);
            }
        }
        live.sort(Comparator.comparing(Tunnel::name));
        return live;
    }

    @Override
    public int size() {
        return local.size();
    }

    @Override
    public void subscribe(Listener listener) {
        listeners.add(listener);
    }

    @Override
    public void close() {
        closed = true;
        if (forwardListener != null) {
            forwardListener.close();
        }
        NodeForwarder forwarding = forwarder;
        if (forwarding != null) {
            forwarding.close();
        }
        // on the store's thread, which owns the mirrors, and before the store stops it (dropping what is queued)
        try {
            store.thread().submit(() -> {
                mirrors.values().forEach(Mirror::close);
                mirrors.clear();
            }).get(EtcdStore.REQUEST_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException | java.util.concurrent.ExecutionException
                 | java.util.concurrent.TimeoutException e) {
            log.warn("cluster: closing the listeners on other nodes' ports: {}", Printable.of(String.valueOf(e)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Watch.Watcher watcher : watchers) {
            watcher.close();
        }
        store.close();
    }

    // ---------------------------------------------------------------- ClusterView

    @Override
    public String node() {
        return store.node();
    }

    @Override
    public boolean storeUp() {
        return store.up();
    }

    @Override
    public double keepAliveSeconds() {
        return store.keepAliveSeconds();
    }

    @Override
    public double storeSilentSeconds() {
        return store.silentSeconds();
    }

    @Override
    public double watchLagSeconds() {
        return watchLag;
    }

    @Override
    public Map<String, String> nodes() {
        return new TreeMap<>(nodes);
    }

    @Override
    public Map<String, String> forwarding() {
        Map<String, String> byNode = new TreeMap<>();
        forwardAddresses.forEach((node, address) -> byNode.put(node,
                new HostPort(address.getHostString(), address.getPort()).toString()));
        return byNode;
    }

    @Override
    public Map<String, String> holders() {
        Map<String, String> byName = new TreeMap<>();
        holders.forEach((name, holder) -> byName.put(Printable.of(name), holder.node()));
        return byName;
    }

    // ---------------------------------------------------------------- a claim

    /** One claim of this node: in flight until {@link #granted}, then held until released or lost. */
    private final class Held implements NameClaim {
        private final Tunnel tunnel;
        /** The revision that wrote the claim (the key's mod revision) once granted; 0 while it is in flight. */
        private volatile long fence;
        /** The lease it was written under. */
        private volatile long lease;
        private final AtomicBoolean released = new AtomicBoolean();
        private final CompletableFuture<String> lost = new CompletableFuture<>();
        /** When its claim was sent (System.nanoTime), for the watch's lag. */
        private final long sent = System.nanoTime();

        Held(Tunnel tunnel) {
            this.tunnel = tunnel;
        }

        /** etcd wrote the claim at {@code revision} under {@code underLease}: from now on the watch judges it. */
        void written(long revision, long underLease) {
            lease = underLease;
            fence = revision;
            wrote(revision, sent);
        }

        /** The claim is this tunnel's (its port's mirror closed): listeners are told. */
        NameClaim granted() {
            log.debug("cluster: claimed '{}' (revision {})", tunnel.name(), fence);
            listeners.tell(new Change(Change.Kind.CLAIMED, tunnel.name(), fence));
            return this;
        }

        /** The store no longer has this claim ({@code reason}: why, without the name): its holder gives it up. */
        void lose(String reason) {
            if (released.get() || !local.remove(tunnel.name(), this)) {
                return;
            }
            log.warn("cluster: name '{}' lost: {}", tunnel.name(), reason);
            listeners.tell(new Change(Change.Kind.LOST, tunnel.name(), fence));
            lost.complete(reason);
        }

        @Override
        public String name() {
            return tunnel.name();
        }

        @Override
        public long fence() {
            return fence;
        }

        @Override
        public CompletionStage<Void> release() {
            if (released.getAndSet(true)) {
                return CompletableFuture.completedFuture(null);
            }
            boolean held = local.remove(tunnel.name(), this);
            if (held) {
                listeners.tell(new Change(Change.Kind.RELEASED, tunnel.name(), fence));
            }
            CompletableFuture<Void> done = new CompletableFuture<>();
            delete(done);
            return done;
        }

        /**
         * Deletes the key if it is still this claim's; tried again while the store does not answer, as long as
         * the lease it was written under lives (when it expires the store deletes the key itself). {@code done}
         * completes after the first attempt, whatever its outcome, so that nobody waits on the store.
         */
        private void delete(CompletableFuture<Void> done) {
            if (closed || lease != store.lease()) {
                done.complete(null);
                return;
            }
            ByteSequence key = EtcdStore.bytes(EtcdStore.NAMES + tunnel.name());
            store.call(() -> store.client().getKVClient().txn()
                            .If(new Cmp(key, Cmp.Op.EQUAL, CmpTarget.modRevision(fence)))
                            .Then(Op.delete(key, DeleteOption.DEFAULT))
                            .commit())
                    .whenComplete((answer, error) -> {
                        done.complete(null);
                        if (error != null) {
                            store.thread().schedule(() -> delete(new CompletableFuture<>()), RELEASE_RETRY_MILLIS,
                                    TimeUnit.MILLISECONDS);
                        }
                    });
        }

        @Override
        public CompletionStage<String> lost() {
            return lost;
        }
    }
}
