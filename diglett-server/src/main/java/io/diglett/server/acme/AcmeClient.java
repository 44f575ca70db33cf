package io.diglett.server.acme;

import io.diglett.server.config.AcmeSettings;
import io.diglett.server.tls.GatewayTls;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.shredzone.acme4j.Account;
import org.shredzone.acme4j.AccountBuilder;
import org.shredzone.acme4j.Authorization;
import org.shredzone.acme4j.Certificate;
import org.shredzone.acme4j.Login;
import org.shredzone.acme4j.Order;
import org.shredzone.acme4j.Problem;
import org.shredzone.acme4j.Session;
import org.shredzone.acme4j.Status;
import org.shredzone.acme4j.challenge.Challenge;
import org.shredzone.acme4j.connector.NetworkSettings;
import org.shredzone.acme4j.exception.AcmeException;
import org.shredzone.acme4j.provider.GenericAcmeProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's ACME account and its orders, through acme4j: blocking calls, made on the ACME worker thread only.
 * The account is created (or found again, by its key) on first use.
 */
final class AcmeClient {

    private static final Logger log = LoggerFactory.getLogger(AcmeClient.class);

    /** How long a challenge's validation or an order's finalization may take. */
    static final Duration WAIT = Duration.ofMinutes(2);

    /** Sets up one authorization's challenge (publishes its answer) and takes it down again. */
    interface Solver {
        /** The challenge of {@code authorization} to trigger, its answer published. */
        Challenge prepare(Authorization authorization) throws IOException, InterruptedException, AcmeException;

        /** Withdraws what {@link #prepare} published for {@code challenge}; best effort. */
        void cleanup(Authorization authorization, Challenge challenge);
    }

    /** A certificate obtained: its chain (leaf first) and, when the server has them, its renewal information. */
    record Issued(List<X509Certificate> chain, Optional<Instant> suggestedRenewal) {
    }

    /** An order that failed: the server's problem document, when it sent one. */
    static final class OrderFailed extends Exception {
        private static final long serialVersionUID = 1L;

        private final transient Problem problem;

        OrderFailed(String message, Problem problem) {
            super(problem == null ? message : message + ": " + describe(problem));
            this.problem = problem;
        }

        Problem problem() {
            return problem;
        }

        /** The problem document as JSON (escaped where it is logged or shown). */
        static String describe(Problem problem) {
            return problem.asJSON().toString();
        }
    }

    private final AcmeSettings settings;
    private final KeyPair accountKey;
    private Login login;

    AcmeClient(AcmeSettings settings, KeyPair accountKey) {
        this.settings = settings;
        this.accountKey = accountKey;
    }

    /** The account's login, the account created or found on first use. */
    private Login login() throws AcmeException, IOException {
        if (login == null) {
            Session session = new Session(settings.directory(), new Provider(trust(settings)));
            AccountBuilder builder = new AccountBuilder().agreeToTermsOfService().useKeyPair(accountKey);
            if (settings.email() != null) {
                builder.addEmail(settings.email());
            }
            Account account = builder.create(session); // or the existing account of this key
            if (settings.email() != null && !account.getContacts().contains(URI.create("mailto:" + settings.email()))) {
                Account.EditableAccount edit = account.modify();
                edit.getContacts().clear();
                edit.addEmail(settings.email());
                edit.commit();
                log.info("ACME account contact set to {}", settings.email());
            }
            log.info("ACME account {} at {}", account.getLocation(), settings.directory());
            login = session.login(account.getLocation(), accountKey);
        }
        return login;
    }

    /**
     * Orders a certificate for {@code domains} (the first is the subject), solving each pending authorization with
     * {@code solver}: every challenge is published first, then all are triggered, then all are withdrawn (two
     * DNS-01 values of one record name, for {@code *.D} and {@code D}, must be visible together).
     */
    Issued order(List<String> domains, KeyPair certificateKey, Solver solver)
            throws AcmeException, IOException, InterruptedException, OrderFailed {
        Order order = login().newOrder().domains(domains).create();
        List<Authorization> pending = new ArrayList<>();
        for (Authorization authorization : order.getAuthorizations()) {
            if (authorization.getStatus() != Status.VALID) {
                pending.add(authorization);
            }
        }
        List<Challenge> challenges = new ArrayList<>();
        try {
            for (Authorization authorization : pending) {
                challenges.add(solver.prepare(authorization));
            }
            for (Challenge challenge : challenges) {
                challenge.trigger();
            }
            for (int i = 0; i < challenges.size(); i++) {
                Challenge challenge = challenges.get(i);
                Status status = challenge.waitForCompletion(WAIT);
                if (status != Status.VALID) {
                    throw new OrderFailed("validation of " + pending.get(i).getIdentifier().getDomain() + " "
                            + status.name().toLowerCase(), challenge.getError().orElse(null));
                }
            }
        } finally {
            for (int i = 0; i < challenges.size(); i++) {
                solver.cleanup(pending.get(i), challenges.get(i));
            }
        }
        Status ready = order.waitUntilReady(WAIT);
        if (ready != Status.READY) {
            throw new OrderFailed("order " + ready.name().toLowerCase(), order.getError().orElse(null));
        }
        order.execute(certificateKey);
        Status done = order.waitForCompletion(WAIT);
        if (done != Status.VALID) {
            throw new OrderFailed("order " + done.name().toLowerCase() + " after finalization",
                    order.getError().orElse(null));
        }
        Certificate certificate = order.getCertificate();
        Optional<Instant> renewal = Optional.empty();
        try {
            if (certificate.hasRenewalInfo()) {
                renewal = certificate.getRenewalInfo().getRandomProposal(null);
            }
        } catch (RuntimeException e) { // acme4j loads the renewal information lazily, failing unchecked
            log.debug("no renewal information for {}: {}", domains.get(0), io.diglett.protocol.Printable.of(
                    io.diglett.protocol.Reasons.of(e)));
        }
        return new Issued(certificate.getCertificateChain(), renewal);
    }

    /**
     * The HTTPS trust for the ACME server: the system's, plus {@code --acme-ca-cert}'s certificates (a company
     * CA, a test server).
     */
    private static SSLContext trust(AcmeSettings settings) throws IOException {
        try {
            SSLContext context = SSLContext.getInstance("TLS");
            if (settings.caCert() == null) {
                context.init(null, null, null);
                return context;
            }
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            int n = 0;
            for (X509Certificate certificate : GatewayTls.readCertificates(settings.caCert())) {
                store.setCertificateEntry("acme-ca-" + n++, certificate);
            }
            TrustManagerFactory system = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            system.init((KeyStore) null);
            for (TrustManager manager : system.getTrustManagers()) {
                if (manager instanceof X509TrustManager x509) {
                    for (X509Certificate anchor : x509.getAcceptedIssuers()) {
                        store.setCertificateEntry("system-" + n++, anchor);
                    }
                }
            }
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(store);
            context.init(null, factory.getTrustManagers(), null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IOException("--acme-ca-cert " + settings.caCert() + ": " + e.getMessage(), e);
        }
    }

    /** acme4j's provider for any directory URL, with our HTTPS trust. */
    private static final class Provider extends GenericAcmeProvider {
        private final SSLContext trust;

        Provider(SSLContext trust) {
            this.trust = trust;
        }

        @Override
        public HttpClient createHttpClient(NetworkSettings settings) {
            return HttpClient.newBuilder()
                    .connectTimeout(settings.getTimeout())
                    .followRedirects(HttpClient.Redirect.NORMAL)
                    .sslContext(trust)
                    .build();
        }
    }
}
