package io.diglett.server.acme;

import io.diglett.server.config.AcmeSettings;
import io.diglett.server.tls.ChallengeAnswers;
import io.diglett.server.tls.GatewayTls;
import io.diglett.server.tls.IngressCertificates;

import io.diglett.protocol.Printable;
import io.diglett.protocol.Reasons;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.io.IOException;
import java.security.KeyPair;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BiPredicate;
import org.shredzone.acme4j.Authorization;
import org.shredzone.acme4j.challenge.Challenge;
import org.shredzone.acme4j.challenge.Dns01Challenge;
import org.shredzone.acme4j.challenge.TlsAlpn01Challenge;
import org.shredzone.acme4j.exception.AcmeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Obtains, serves and renews the gateway's ACME certificates (docs/operations.md, "Certificates from ACME").
 * <ul>
 *   <li>With a DNS hook: one certificate for {@code *.DOMAIN} and {@code DOMAIN} through DNS-01, served to every
 *       name.</li>
 *   <li>Without: a certificate per registered name through TLS-ALPN-01, answered by the HTTPS ingress
 *       ({@link ChallengeAnswers}); only for a name that is live and authorized when its order starts and when it
 *       is validated, within a weekly budget per token and overall.</li>
 *   <li>With {@code --acme-link-name}: a certificate for the gateway's own host name on the agent link.</li>
 * </ul>
 * A certificate is renewed at two thirds of its lifetime, or when the server's renewal information suggests; a
 * failed order is retried with backoff, the name served on the fallback (or its still valid certificate) meanwhile.
 * Every order runs on one worker thread; the ingress reads what it serves from {@link IngressCertificates}.
 */
public final class AcmeManager implements ChallengeAnswers, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AcmeManager.class);

    /** First retry after a failed order; each further failure doubles it, up to {@link #MAX_BACKOFF}. */
    static final Duration FIRST_BACKOFF = Duration.ofMinutes(5);
    static final Duration MAX_BACKOFF = Duration.ofDays(1);
    /** When another node holds a subject's order lock: look again after this. */
    static final Duration LOCKED_RETRY = Duration.ofSeconds(30);
    /** The budgets' window. */
    static final Duration WEEK = Duration.ofDays(7);
    /** Token of the operator's own certificates (wildcard, link) in the issuance record. */
    static final String OPERATOR = "-";

    private enum Kind { NAME, WILDCARD, LINK }

    /** One certificate the gateway wants: its names, who asked, where it stands. Touched on the worker only. */
    private final class Subject {
        final Kind kind;
        final String key;
        final List<String> domains;
        final String name;
        String token = OPERATOR;
        int failures;
        ScheduledFuture<?> next;
        volatile CertificateStatus status;

        Subject(Kind kind, String key, List<String> domains, String name) {
            this.kind = kind;
            this.key = key;
            this.domains = domains;
            this.name = name;
            this.status = new CertificateStatus(key, CertificateStatus.State.PENDING, null, null, null, null);
        }

        void at(Instant when, Runnable task) {
            if (next != null) {
                next.cancel(false);
            }
            long delay = Math.max(0, Duration.between(clock.instant(), when).toMillis());
            next = worker.schedule(() -> guarded(this, task), delay, TimeUnit.MILLISECONDS);
        }
    }

    private final String domain;
    private final AcmeStore store;
    private final IngressCertificates served;
    private final GatewayTls linkTls;
    private final BiPredicate<String, String> authorized;
    private final Clock clock;
    private final ScheduledExecutorService worker;
    private volatile AcmeSettings settings;
    private AcmeClient client;
    private DnsHook hook;
    /** Live names and their tokens (worker). */
    private final Map<String, String> live = new HashMap<>();
    private final Map<String, Subject> subjects = new ConcurrentHashMap<>();
    /** Validation contexts built, by host, with the answer they were built from. */
    private final Map<String, Map.Entry<AcmeStore.Stored, SslContext>> answers = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> orders = new ConcurrentHashMap<>();
    private volatile java.util.function.BiConsumer<String, CertificateStatus> watcher = (name, status) -> { };

    /**
     * A manager for {@code settings} serving names under {@code domain} into {@code served} (and the link's
     * certificate into {@code linkTls}, if any); {@code authorized} tells whether a name is live for a token and
     * still allowed to it.
     */
    public AcmeManager(AcmeSettings settings, String domain, AcmeStore store, IngressCertificates served,
                       GatewayTls linkTls, BiPredicate<String, String> authorized, Clock clock) {
        this.settings = settings;
        this.domain = domain;
        this.store = store;
        this.served = served;
        this.linkTls = linkTls;
        this.authorized = authorized;
        this.clock = clock;
        this.worker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "diglett-acme");
            thread.setDaemon(true);
            return thread;
        });
        for (String result : List.of("issued", "renewed", "failed", "limited")) {
            orders.put(result, new LongAdder());
        }
        store.onCertificateStored(subject -> {
            if (!worker.isShutdown()) {
                worker.execute(() -> storedElsewhere(subject));
            }
        });
    }

    /**
     * Serves the stored wildcard and link certificates now, on the caller's thread: before the gateway takes agents
     * and clients, so that none of them is shown another certificate first. Orders nothing.
     */
    public void serveStored() {
        AcmeSettings now = settings;
        List<Subject> operator = new ArrayList<>();
        if (now.wildcard()) {
            operator.add(subjects.computeIfAbsent("*." + domain,
                    key -> new Subject(Kind.WILDCARD, key, List.of(key, domain), null)));
        }
        if (now.linkName() != null && linkTls != null) {
            operator.add(subjects.computeIfAbsent(now.linkName(),
                    key -> new Subject(Kind.LINK, key, List.of(key), null)));
        }
        for (Subject subject : operator) {
            Served stored = load(subject);
            if (stored != null) {
                install(subject, stored);
            }
        }
    }

    /** Loads what is stored and orders what is missing: the wildcard and the link's certificate. */
    public void start() {
        worker.execute(() -> {
            AcmeSettings now = settings;
            log.info("ACME: {} from {}{}", now.wildcard() ? "one certificate for *." + domain + " through DNS-01"
                    : "a certificate per name through TLS-ALPN-01", now.directory(),
                    now.linkName() == null ? "" : ", and one for the agent link's " + now.linkName());
            wanted();
        });
    }

    /** The operator's subjects of the settings in force: ensured now. */
    private void wanted() {
        AcmeSettings now = settings;
        if (now.wildcard()) {
            ensureUnlessScheduled(subjects.computeIfAbsent("*." + domain,
                    key -> new Subject(Kind.WILDCARD, key, List.of(key, domain), null)));
        } else {
            for (var entry : live.entrySet()) {
                ensureName(entry.getKey(), entry.getValue());
            }
        }
        if (now.linkName() != null && linkTls != null) {
            ensureUnlessScheduled(subjects.computeIfAbsent(now.linkName(),
                    key -> new Subject(Kind.LINK, key, List.of(key), null)));
        }
    }

    /** New settings (a reload): a new account login if the server or contact changed, then what they want. */
    public void update(AcmeSettings next) {
        worker.execute(() -> {
            AcmeSettings previous = settings;
            settings = next;
            boolean server = !next.directory().equals(previous.directory())
                    || !java.util.Objects.equals(next.email(), previous.email())
                    || !java.util.Objects.equals(next.caCert(), previous.caCert());
            if (server) {
                client = null;
            }
            boolean solving = server || !java.util.Objects.equals(next.dnsHook(), previous.dnsHook());
            hook = null;
            // what waits on a budget, or failed with what changed, is tried again now, not at its retry time
            for (Subject subject : subjects.values()) {
                CertificateStatus.State state = subject.status.state();
                if ((state == CertificateStatus.State.LIMITED || state == CertificateStatus.State.FAILED && solving)
                        && subject.next != null) {
                    subject.next.cancel(false);
                    subject.failures = 0;
                }
            }
            wanted();
        });
    }

    /**
     * {@code watcher} hears, on the ACME thread, where the certificate serving a live name stands whenever that
     * changes, and when the name goes live (for its agent's status).
     */
    public void watch(java.util.function.BiConsumer<String, CertificateStatus> watcher) {
        this.watcher = watcher;
    }

    /** {@code name} went live for {@code token}: its certificate is served, or ordered. */
    public void nameLive(String name, String token) {
        worker.execute(() -> {
            live.put(name, token == null ? OPERATOR : token);
            if (!settings.wildcard()) {
                ensureName(name, live.get(name));
            }
            CertificateStatus status = status(name);
            if (status != null) {
                watcher.accept(name, status);
            }
        });
    }

    /** {@code subject}'s status is now {@code status}: its live names hear of it. */
    private void changed(Subject subject, CertificateStatus status) {
        subject.status = status;
        switch (subject.kind) {
            case NAME -> {
                if (live.containsKey(subject.name)) {
                    watcher.accept(subject.name, status);
                }
            }
            case WILDCARD -> {
                if (settings.wildcard()) {
                    live.keySet().forEach(name -> watcher.accept(name, status));
                }
            }
            case LINK -> { }
        }
    }

    /** {@code name} is no longer live here: no order for it (a stored certificate stays, for its return). */
    public void nameGone(String name) {
        worker.execute(() -> {
            live.remove(name); // a retry or renewal scheduled for it finds it gone and orders nothing
        });
    }

    private void ensureName(String name, String token) {
        Subject subject = subjects.computeIfAbsent(host(name),
                key -> new Subject(Kind.NAME, key, List.of(key), name));
        subject.token = token;
        ensureUnlessScheduled(subject);
    }

    /** {@link #ensure}, unless its renewal, a retry after a failure or the end of a budget wait is scheduled. */
    private void ensureUnlessScheduled(Subject subject) {
        if (subject.next != null && !subject.next.isDone()) {
            return;
        }
        ensure(subject);
    }

    /** The subject a stored key stands for, or {@code null} when it is none of this gateway's (another domain). */
    private Subject subjectOf(String key) {
        if (key.equals("*." + domain)) {
            return new Subject(Kind.WILDCARD, key, List.of(key, domain), null);
        }
        if (key.equals(settings.linkName()) && linkTls != null) {
            return new Subject(Kind.LINK, key, List.of(key), null);
        }
        String suffix = "." + domain;
        if (key.endsWith(suffix) && key.indexOf('.') == key.length() - suffix.length()) {
            return new Subject(Kind.NAME, key, List.of(key), key.substring(0, key.length() - suffix.length()));
        }
        return null;
    }

    private String host(String name) {
        return name + "." + domain;
    }

    /** Where {@code name}'s certificate stands: its own, or the wildcard's; {@code null} without either. */
    public CertificateStatus status(String name) {
        Subject subject = settings.wildcard() ? subjects.get("*." + domain) : subjects.get(host(name));
        return subject == null ? null : subject.status;
    }

    /** Where every certificate stands. */
    public List<CertificateStatus> statuses() {
        List<CertificateStatus> all = new ArrayList<>();
        subjects.values().forEach(s -> all.add(s.status));
        return all;
    }

    /** Orders finished, by result: issued, renewed, failed, limited. */
    public Map<String, Long> orders() {
        Map<String, Long> counts = new HashMap<>();
        orders.forEach((result, count) -> counts.put(result, count.sum()));
        return counts;
    }

    // ---------------------------------------------------------------- the worker

    private void guarded(Subject subject, Runnable task) {
        try {
            task.run();
        } catch (RuntimeException e) {
            log.error("ACME: {} failed unexpectedly", subject.key, e);
        }
    }

    /** Serves {@code subject}'s stored certificate if it is good, and orders one when it is missing or due. */
    private void ensure(Subject subject) {
        Instant now = clock.instant();
        Served stored = load(subject);
        if (stored != null) {
            install(subject, stored);
            if (now.isBefore(stored.renewAt)) {
                subject.at(stored.renewAt, () -> ensure(subject));
                return;
            }
        }
        if (subject.kind == Kind.NAME && !mayOrder(subject) || !wantedNow(subject)) {
            return;
        }
        boolean renewal = stored != null && now.isBefore(stored.notAfter);
        if (!renewal) {
            Instant until = budgetUsedUntil(subject, now);
            if (until != null) {
                orders.get("limited").increment();
                log.warn("ACME: no certificate for {} before {}: the weekly budget ({} for its token, {} in all) is"
                        + " used up; it is served the fallback certificate", subject.key, until,
                        settings.weeklyPerToken(), settings.weeklyLimit());
                changed(subject, new CertificateStatus(subject.key, CertificateStatus.State.LIMITED, null, null,
                        "weekly certificate budget used up", until));
                subject.at(until, () -> ensure(subject));
                return;
            }
        }
        try {
            boolean ran = store.whileLocked(subject.key, () -> order(subject, renewal));
            if (!ran) {
                subject.at(now.plus(LOCKED_RETRY), () -> ensure(subject));
            }
        } catch (IOException e) {
            failed(subject, "the ACME state cannot be kept: " + Reasons.of(e), stored);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Whether the settings in force still want {@code subject} ordered: a name's own certificate not while the
     * wildcard serves every name, the wildcard only with a DNS hook, the link's only for the link name in force.
     * What is not wanted is served until it expires, and not renewed.
     */
    private boolean wantedNow(Subject subject) {
        AcmeSettings now = settings;
        return switch (subject.kind) {
            case NAME -> !now.wildcard();
            case WILDCARD -> now.wildcard();
            case LINK -> subject.key.equals(now.linkName());
        };
    }

    /** A name may be ordered for: live here and still allowed to its token. */
    private boolean mayOrder(Subject subject) {
        String token = live.get(subject.name);
        if (token == null || !authorized.test(subject.name, token)) {
            log.debug("ACME: {} is not live or not authorized: no order", subject.key);
            return false;
        }
        return true;
    }

    /** When the budget that holds {@code subject} frees a slot, or {@code null} if it has one now. */
    private Instant budgetUsedUntil(Subject subject, Instant now) {
        List<AcmeStore.Issuance> issued;
        try {
            issued = store.issuances(now);
        } catch (IOException e) {
            log.warn("ACME: cannot read the issuance record ({}): counting none", Reasons.of(e));
            return null;
        }
        Instant until = null;
        List<Instant> all = issued.stream().map(AcmeStore.Issuance::at).sorted().toList();
        if (all.size() >= settings.weeklyLimit()) {
            until = settings.weeklyLimit() == 0 ? now.plus(WEEK)
                    : all.get(all.size() - settings.weeklyLimit()).plus(WEEK);
        }
        if (subject.kind == Kind.NAME) {
            List<Instant> token = issued.stream().filter(i -> i.token().equals(subject.token))
                    .map(AcmeStore.Issuance::at).sorted().toList();
            if (token.size() >= settings.weeklyPerToken()) {
                Instant free = settings.weeklyPerToken() == 0 ? now.plus(WEEK)
                        : token.get(token.size() - settings.weeklyPerToken()).plus(WEEK);
                until = until == null || free.isAfter(until) ? free : until;
            }
        }
        return until;
    }

    /** Orders {@code subject}'s certificate (holding its lock) and serves it. */
    private void order(Subject subject, boolean renewal) throws IOException, InterruptedException {
        Served other = load(subject); // another node, or another gateway on this state directory, may have been first
        if (other != null && clock.instant().isBefore(other.renewAt)) {
            install(subject, other);
            subject.at(other.renewAt, () -> ensure(subject));
            return;
        }
        CertificateStatus was = subject.status;
        if (was.state() != CertificateStatus.State.VALID) {
            changed(subject, new CertificateStatus(subject.key, CertificateStatus.State.PENDING, null, null,
                    was.detail(), null));
        }
        log.info("ACME: ordering a certificate for {}{}", String.join(", ", subject.domains),
                renewal ? " (renewal)" : "");
        KeyPair key = Pem.newKeyPair();
        try {
            AcmeClient.Issued issued = client().order(subject.domains, key, solver(subject));
            AcmeStore.Stored stored = new AcmeStore.Stored(Pem.of(issued.chain()), Pem.of(key));
            store.saveCertificate(subject.key, stored);
            if (!renewal) {
                store.recordIssuance(new AcmeStore.Issuance(clock.instant(), subject.token, subject.key));
            }
            Served served = served(subject, stored, issued.suggestedRenewal().orElse(null));
            install(subject, served);
            subject.failures = 0;
            orders.get(renewal ? "renewed" : "issued").increment();
            log.info("ACME: certificate for {} issued, valid until {}, renewed from {}", subject.key,
                    served.notAfter, served.renewAt);
            subject.at(served.renewAt, () -> ensure(subject));
        } catch (AcmeClient.OrderFailed e) {
            failed(subject, e.getMessage(), other);
        } catch (IOException e) { // the DNS hook, the name no longer live, no challenge of the kind needed
            failed(subject, Reasons.of(e), other);
        } catch (AcmeException | RuntimeException e) {
            failed(subject, Reasons.of(e) + (e.getCause() == null ? "" : " (" + Reasons.of(e.getCause()) + ")"),
                    other);
        }
    }

    private void failed(Subject subject, String reason, Served still) {
        subject.failures++;
        orders.get("failed").increment();
        long factor = 1L << Math.min(20, subject.failures - 1);
        Duration backoff = FIRST_BACKOFF.multipliedBy(factor);
        if (backoff.compareTo(MAX_BACKOFF) > 0) {
            backoff = MAX_BACKOFF;
        }
        Instant retry = clock.instant().plus(backoff);
        log.warn("ACME: the order for {} failed ({} in a row): {}; {} meanwhile, next try at {}", subject.key,
                subject.failures, Printable.of(reason, 4096), still != null && clock.instant().isBefore(still.notAfter)
                        ? "its current certificate is served" : "the fallback certificate is served", retry);
        changed(subject, new CertificateStatus(subject.key, CertificateStatus.State.FAILED,
                still == null ? null : still.notAfter, null, Printable.of(reason), retry));
        subject.at(retry, () -> ensure(subject));
    }

    private AcmeClient client() throws IOException {
        if (client == null) {
            String pem = store.accountKey(() -> Pem.of(Pem.newKeyPair()));
            client = new AcmeClient(settings, Pem.keyPair(pem));
        }
        return client;
    }

    /** How {@code subject}'s authorizations are answered: DNS-01 through the hook if there is one, else TLS-ALPN-01. */
    private AcmeClient.Solver solver(Subject subject) {
        AcmeSettings now = settings;
        if (now.dnsHook() != null) {
            if (hook == null) {
                hook = new DnsHook(now.dnsHook(), now.hookTimeout());
            }
            return new DnsSolver(hook);
        }
        return new AlpnSolver(subject);
    }

    /** {@code authorization}'s challenge of {@code kind} ({@code type}), or an IOException saying it has none. */
    private static <T extends Challenge> T offered(Authorization authorization, Class<T> kind, String type)
            throws IOException {
        return authorization.findChallenge(kind).orElseThrow(() -> new IOException("the ACME server offers no "
                + type + " challenge for " + authorization.getIdentifier().getDomain()));
    }

    private static final class DnsSolver implements AcmeClient.Solver {
        private final DnsHook hook;

        DnsSolver(DnsHook hook) {
            this.hook = hook;
        }

        @Override
        public Challenge prepare(Authorization authorization) throws IOException, InterruptedException {
            Dns01Challenge challenge = offered(authorization, Dns01Challenge.class, Dns01Challenge.TYPE);
            String domain = authorization.getIdentifier().getDomain();
            hook.run("present", domain, recordName(challenge, authorization), challenge.getDigest());
            return challenge;
        }

        @Override
        public void cleanup(Authorization authorization, Challenge challenge) {
            Dns01Challenge dns = (Dns01Challenge) challenge;
            try {
                hook.run("cleanup", authorization.getIdentifier().getDomain(), recordName(dns, authorization),
                        dns.getDigest());
            } catch (IOException e) {
                log.warn("ACME: {}", e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private static String recordName(Dns01Challenge challenge, Authorization authorization) {
            String name = challenge.getRRName(authorization.getIdentifier());
            return name.endsWith(".") ? name.substring(0, name.length() - 1) : name;
        }
    }

    private final class AlpnSolver implements AcmeClient.Solver {
        private final Subject subject;

        AlpnSolver(Subject subject) {
            this.subject = subject;
        }

        @Override
        public Challenge prepare(Authorization authorization) throws IOException, AcmeException {
            TlsAlpn01Challenge challenge = offered(authorization, TlsAlpn01Challenge.class, TlsAlpn01Challenge.TYPE);
            if (subject.kind == Kind.NAME && !mayOrder(subject)) {
                throw new IOException(subject.name + " is no longer live or authorized");
            }
            KeyPair key = Pem.newRsaKeyPair(); // acme4j signs the validation certificate with SHA256withRSA
            X509Certificate certificate = challenge.createCertificate(key, authorization.getIdentifier());
            store.putChallenge(host(authorization), new AcmeStore.Stored(Pem.of(List.of(certificate)), Pem.of(key)));
            return challenge;
        }

        @Override
        public void cleanup(Authorization authorization, Challenge challenge) {
            try {
                store.removeChallenge(host(authorization));
            } catch (IOException e) {
                log.warn("ACME: cannot withdraw the validation answer for {}: {}", host(authorization),
                        Reasons.of(e));
            }
        }

        private static String host(Authorization authorization) {
            return authorization.getIdentifier().getDomain().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * Another node stored {@code key}'s certificate: serve it (this node's ingress serves every name of the
     * cluster, its agents' or forwarded), and look at it again at its renewal time.
     */
    private void storedElsewhere(String key) {
        Subject subject = subjects.computeIfAbsent(key, this::subjectOf);
        if (subject == null) {
            return;
        }
        Served stored = load(subject);
        if (stored != null) {
            install(subject, stored);
            subject.at(stored.renewAt, () -> ensure(subject));
        }
    }

    // ---------------------------------------------------------------- certificates served

    /** A certificate ready to serve. */
    private record Served(AcmeStore.Stored stored, KeyPair key, List<X509Certificate> chain, Instant notAfter,
                          Instant renewAt) {
    }

    /** {@code subject}'s stored certificate, if it is readable, covers its names and has not expired. */
    private Served load(Subject subject) {
        AcmeStore.Stored stored;
        try {
            stored = store.certificate(subject.key);
        } catch (IOException e) {
            log.warn("ACME: cannot read the stored certificate of {}: {}", subject.key, Reasons.of(e));
            return null;
        }
        if (stored == null) {
            return null;
        }
        try {
            Served served = served(subject, stored, null);
            if (!clock.instant().isBefore(served.notAfter)) {
                log.info("ACME: the stored certificate of {} expired at {}", subject.key, served.notAfter);
                return null;
            }
            return served;
        } catch (IOException e) {
            log.warn("ACME: the stored certificate of {} is not usable ({}): ordering a new one", subject.key,
                    Reasons.of(e));
            return null;
        }
    }

    private Served served(Subject subject, AcmeStore.Stored stored, Instant suggested) throws IOException {
        List<X509Certificate> chain = Pem.chain(stored.chainPem());
        KeyPair key = Pem.keyPair(stored.keyPem());
        X509Certificate leaf = chain.get(0);
        if (!leaf.getPublicKey().equals(key.getPublic())) {
            throw new IOException("its key does not match it");
        }
        List<String> names = dnsNames(leaf);
        for (String domain : subject.domains) {
            if (!names.contains(domain)) {
                throw new IOException("it does not name " + domain);
            }
        }
        Instant notBefore = leaf.getNotBefore().toInstant();
        Instant notAfter = leaf.getNotAfter().toInstant();
        Instant renewAt = suggested != null && suggested.isBefore(notAfter) ? suggested
                : notBefore.plus(Duration.between(notBefore, notAfter).multipliedBy(2).dividedBy(3));
        return new Served(stored, key, chain, notAfter, renewAt);
    }

    private static List<String> dnsNames(X509Certificate leaf) throws IOException {
        List<String> names = new ArrayList<>();
        try {
            Collection<List<?>> sans = leaf.getSubjectAlternativeNames();
            if (sans != null) {
                for (List<?> san : sans) {
                    if (Integer.valueOf(2).equals(san.get(0))) {
                        names.add(String.valueOf(san.get(1)).toLowerCase(Locale.ROOT));
                    }
                }
            }
        } catch (CertificateParsingException e) {
            throw new IOException("cannot read its names", e);
        }
        return names;
    }

    /** Serves {@code served} for {@code subject} from the next connection on. */
    private void install(Subject subject, Served served) {
        CertificateStatus current = subject.status;
        if (current.state() == CertificateStatus.State.VALID && served.notAfter.equals(current.notAfter())) {
            return; // already served
        }
        try {
            switch (subject.kind) {
                case NAME -> this.served.put(subject.key, IngressCertificates.context(
                        served.key.getPrivate(), served.chain), served.notAfter);
                case WILDCARD -> this.served.putWildcard(IngressCertificates.context(
                        served.key.getPrivate(), served.chain), served.notAfter);
                case LINK -> linkTls.use(served.key.getPrivate(), served.chain);
            }
        } catch (IOException e) {
            log.warn("ACME: cannot serve the certificate of {}: {}", subject.key, Reasons.of(e));
            return;
        }
        changed(subject, new CertificateStatus(subject.key, CertificateStatus.State.VALID, served.notAfter,
                served.renewAt, null, null));
        log.info("ACME: serving the certificate of {} (valid until {})", subject.key, served.notAfter);
    }

    // ---------------------------------------------------------------- TLS-ALPN-01 answers (event loops)

    /**
     * Whether a validation of {@code host} could be ours: a name under the domain, or the link's host. Others are
     * refused without asking the store (a cluster store is not to be read for any name a client makes up).
     */
    private boolean ours(String host) {
        if (host.equals(settings.linkName())) {
            return true;
        }
        String suffix = "." + domain;
        return host.endsWith(suffix) && host.indexOf('.') == host.length() - suffix.length();
    }

    @Override
    public Future<SslContext> answer(EventExecutor executor, String host) {
        Promise<SslContext> promise = executor.newPromise();
        if (!ours(host)) {
            return promise.setSuccess(null);
        }
        store.challenge(host).whenComplete((stored, failure) -> {
            if (failure != null || stored == null) {
                answers.remove(host);
                promise.trySuccess(null);
                return;
            }
            try {
                Map.Entry<AcmeStore.Stored, SslContext> built = answers.get(host);
                if (built == null || !built.getKey().equals(stored)) {
                    KeyPair key = Pem.keyPair(stored.keyPem());
                    built = Map.entry(stored, ChallengeAnswers.context(key.getPrivate(),
                            Pem.chain(stored.chainPem()).get(0)));
                    answers.put(host, built);
                }
                promise.trySuccess(built.getValue());
            } catch (IOException | RuntimeException e) {
                log.warn("ACME: the validation answer for {} is not usable: {}", Printable.of(host), Reasons.of(e));
                promise.trySuccess(null);
            }
        });
        return promise;
    }

    @Override
    public void close() {
        store.close(); // first: no more polls that would hand the worker work
        worker.shutdownNow();
        try {
            worker.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
