package io.diglett.server.auth;

import io.diglett.protocol.Reasons;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tokens and the names each may register, from a {@link TokenFile}. Tokens are compared by their SHA-256,
 * in constant time and against every entry. The principal of a token (what the admin endpoint's
 * {@code /api/tunnels} shows) is an opaque id, {@code token-} and 24 hex digits: an HMAC-SHA256 of the token's
 * digest under a key each gateway draws at random when it starts, so it tells nothing about the token (not even
 * its unsalted digest, which an offline guess could test) and differs from one gateway or restart to the next.
 * The file is polled and re-read when its content changes; a file
 * that no longer parses is reported and the previous tokens stay in force.
 *
 * <p>Fails closed: while the file is missing or cannot be read, no token is valid (logins are refused, and the
 * {@link #onChange} listeners are told, so live links are authorized again and sent away), with the reason
 * logged once when the outage starts and once when the file is back.
 */
public final class FileAuthenticator implements Authenticator {

    private static final Logger log = LoggerFactory.getLogger(FileAuthenticator.class);

    private final Path file;
    private final ScheduledExecutorService poller;
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    /** The key of the principals' HMAC, drawn at start: ids are opaque, and this gateway's own. */
    private final SecretKeySpec idKey;
    private volatile Loaded tokens;
    /** Why no token is valid now (the file cannot be read), or {@code null}; written on the poller only. */
    private volatile String outage;
    /** A read failed for another reason than a missing or forbidden file; logged once until a read succeeds. */
    private boolean readFailing;
    private byte[] lastContent;

    /** A token file as read, with the principal of each entry. */
    private record Loaded(TokenFile file, Map<TokenFile.Entry, String> principals) {
    }

    private FileAuthenticator(Path file, TokenFile tokens, byte[] content) {
        this.file = file;
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        this.idKey = new SecretKeySpec(key, "HmacSHA256");
        this.tokens = load(tokens);
        this.lastContent = content;
        this.poller = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "diglett-auth-file");
            thread.setDaemon(true);
            return thread;
        });
    }

    /** Reads {@code file} (failing if it does not parse) and polls it every {@code interval}. */
    public static FileAuthenticator start(Path file, Duration interval) throws IOException {
        byte[] content = Files.readAllBytes(file);
        TokenFile tokens = TokenFile.parse(new String(content, java.nio.charset.StandardCharsets.UTF_8),
                file.toString());
        tokens.warnings().forEach(log::warn);
        FileAuthenticator authenticator = new FileAuthenticator(file, tokens, content);
        log.info("{} token(s) from {}, re-read when it changes", tokens.entries().size(), file);
        long millis = Math.max(10, interval.toMillis());
        authenticator.poller.scheduleWithFixedDelay(authenticator::poll, millis, millis, TimeUnit.MILLISECONDS);
        return authenticator;
    }

    private void poll() {
        byte[] content;
        try {
            content = Files.readAllBytes(file);
        } catch (IOException e) {
            if (!(e instanceof java.nio.file.NoSuchFileException || e instanceof java.nio.file.AccessDeniedException)) {
                // a passing failure (no file descriptor left, an I/O error): the tokens read last stay in force
                if (!readFailing) {
                    readFailing = true;
                    log.warn("cannot read token file {} ({}): keeping the tokens read last until it reads again",
                            file, Reasons.of(e));
                }
                return;
            }
            readFailing = false;
            lastContent = null; // whatever comes back is read afresh
            if (outage == null) {
                // logged once per outage, not per poll
                outage = "the gateway cannot read its token file";
                log.error("cannot read token file {} ({}): no token is valid until it is back; new logins are"
                        + " refused and connected agents are sent away", file, describe(e));
                notifyListeners();
            }
            return;
        }
        readFailing = false;
        if (Arrays.equals(content, lastContent)) {
            return;
        }
        lastContent = content;
        TokenFile fresh;
        try {
            fresh = TokenFile.parse(new String(content, java.nio.charset.StandardCharsets.UTF_8), file.toString());
        } catch (IllegalArgumentException e) {
            log.error("token file changed but does not parse, keeping the {}: {}",
                    outage == null ? "previous tokens" : "gateway closed (no token is valid)", Reasons.of(e));
            return;
        }
        fresh.warnings().forEach(log::warn);
        tokens = load(fresh);
        if (outage != null) {
            outage = null;
            log.info("token file {} is readable again: {} token(s), logins accepted", file, fresh.entries().size());
        } else {
            log.info("token file {} re-read: {} token(s)", file, fresh.entries().size());
        }
        notifyListeners();
    }

    private Loaded load(TokenFile file) {
        Map<TokenFile.Entry, String> principals = new IdentityHashMap<>();
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(idKey);
            for (TokenFile.Entry entry : file.entries()) {
                byte[] id = Arrays.copyOf(mac.doFinal(entry.sha256()), 12);
                principals.put(entry, "token-" + HexFormat.of().formatHex(id));
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
        return new Loaded(file, principals);
    }

    /** Why the file cannot be read, for the log: {@code missing}, {@code permission denied}, or the exception. */
    private static String describe(IOException e) {
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "missing";
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        return e.getClass().getSimpleName() + ": " + Reasons.of(e);
    }

    private void notifyListeners() {
        for (Runnable listener : listeners) {
            listener.run();
        }
    }

    @Override
    public String authenticate(String token) throws AccessDeniedException {
        String closed = outage;
        if (closed != null) {
            throw new AccessDeniedException(closed + ": no token is valid", true);
        }
        byte[] digest = TokenFile.sha256(token);
        Loaded loaded = tokens;
        TokenFile.Entry found = null;
        for (TokenFile.Entry entry : loaded.file().entries()) {
            // every entry is compared, each in constant time: timing says nothing about which one matched
            if (MessageDigest.isEqual(entry.sha256(), digest)) {
                found = entry;
            }
        }
        if (found == null) {
            throw new AccessDeniedException(token.isEmpty() ? "a token is required (--token or DIGLETT_TOKEN)"
                    : "unknown token");
        }
        return loaded.principals().get(found);
    }

    @Override
    public void authorize(String principal, String name) throws AccessDeniedException {
        String closed = outage;
        if (closed != null) {
            throw new AccessDeniedException(closed + ": no token is valid", true);
        }
        Loaded loaded = tokens;
        for (TokenFile.Entry entry : loaded.file().entries()) {
            if (loaded.principals().get(entry).equals(principal)) {
                if (entry.allows(name)) {
                    return;
                }
                throw new AccessDeniedException("this token may register only " + String.join(", ", entry.patterns()));
            }
        }
        throw new AccessDeniedException("the token is no longer accepted");
    }

    /** The policy the token file gives {@code principal}'s line ({@code RULE=VALUE} fields), or none. */
    @Override
    public io.diglett.protocol.Policy policy(String principal) {
        Loaded loaded = tokens;
        for (TokenFile.Entry entry : loaded.file().entries()) {
            if (loaded.principals().get(entry).equals(principal)) {
                return entry.policy();
            }
        }
        return io.diglett.protocol.Policy.NONE;
    }

    /** Re-reads the file now, on the polling thread, and waits for it. */
    @Override
    public void reload() {
        try {
            poller.submit(this::poll).get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            log.warn("cannot re-read token file {}: {}", file, e.toString());
        }
    }

    @Override
    public void onChange(Runnable listener) {
        listeners.add(listener);
    }

    @Override
    public void close() {
        poller.shutdownNow();
    }
}
