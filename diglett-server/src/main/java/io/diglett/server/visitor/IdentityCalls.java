package io.diglett.server.visitor;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The calls a login makes to identity providers (discovery, keys, the token exchange) and the slow checks, off the
 * event loops: a few threads of their own with a bounded queue (beyond it a request gets 503 at once), and HTTP
 * with timeouts, no redirects and a bounded body. A provider is named by an agent's policy, so by default the
 * gateway refuses one whose address is the gateway's own or private ({@link #allowPrivateProviders}): an agent
 * must not make it reach services only the gateway's network can.
 */
public final class IdentityCalls {

    /** Calls waiting for a thread, at most (every name together). */
    static final int MAX_WAITING = 64;
    /** A provider's answer, at most. */
    static final int MAX_BODY = 256 * 1024;
    static final Duration TIMEOUT = Duration.ofSeconds(5);

    private static final ThreadPoolExecutor POOL = new ThreadPoolExecutor(2, 2, 0, TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(MAX_WAITING), r -> {
                Thread thread = new Thread(r, "diglett-identity");
                thread.setDaemon(true);
                return thread;
            });
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(TIMEOUT)
            .followRedirects(HttpClient.Redirect.NEVER).build();
    private static volatile boolean privateProviders;

    private IdentityCalls() {
    }

    /**
     * Whether providers on loopback, private, link-local and unique-local addresses may be used (the gateway's
     * {@code --allow-private-identity-providers}: a provider on the gateway's own host or network).
     */
    public static void allowPrivateProviders(boolean allowed) {
        privateProviders = allowed;
    }

    /** {@code work} on the identity threads; failed with a RejectedExecutionException when too many wait. */
    static <T> CompletableFuture<T> submit(Callable<T> work) {
        CompletableFuture<T> result = new CompletableFuture<>();
        try {
            POOL.execute(() -> {
                try {
                    result.complete(work.call());
                } catch (Exception | LinkageError e) {
                    result.completeExceptionally(e);
                }
            });
        } catch (RejectedExecutionException e) {
            result.completeExceptionally(e);
        }
        return result;
    }

    /** A provider's answer. */
    record Answer(int status, String contentType, String body) {
    }

    /** GET {@code uri} (on an identity thread). */
    static Answer get(URI uri) throws IOException {
        return send(HttpRequest.newBuilder(uri).timeout(TIMEOUT).header("Accept", "application/json").GET());
    }

    /** POST a form to {@code uri} (on an identity thread), with {@code authorization} if not {@code null}. */
    static Answer postForm(URI uri, String form, String authorization) throws IOException {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(TIMEOUT)
                .header("Content-Type", "application/x-www-form-urlencoded").header("Accept", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(form));
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return send(request);
    }

    private static Answer send(HttpRequest.Builder request) throws IOException {
        URI uri = request.build().uri();
        checkAddress(uri);
        HttpResponse<InputStream> response;
        try {
            response = HTTP.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        try (InputStream in = response.body()) {
            byte[] body = in.readNBytes(MAX_BODY + 1);
            if (body.length > MAX_BODY) {
                throw new IOException(uri.getHost() + " answered more than " + MAX_BODY + " bytes");
            }
            return new Answer(response.statusCode(), response.headers().firstValue("Content-Type").orElse(null),
                    new String(body, java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    /**
     * Refuses a provider whose host resolves to a loopback, private, link-local, unique-local, multicast or
     * unspecified address, unless those are allowed.
     */
    static void checkAddress(URI uri) throws IOException {
        if (privateProviders) {
            return;
        }
        for (InetAddress address : InetAddress.getAllByName(uri.getHost())) {
            byte[] bytes = address.getAddress();
            boolean uniqueLocal = bytes.length == 16 && (bytes[0] & 0xfe) == 0xfc;
            if (address.isLoopbackAddress() || address.isSiteLocalAddress() || address.isLinkLocalAddress()
                    || address.isAnyLocalAddress() || address.isMulticastAddress() || uniqueLocal) {
                throw new IOException("the identity provider " + uri.getHost() + " is at a private address ("
                        + address.getHostAddress() + "); the gateway's operator allows those with"
                        + " --allow-private-identity-providers");
            }
        }
    }

    /** A Nimbus resource retriever (for JWK sets) through these calls: bounded, checked, no redirects. */
    static com.nimbusds.jose.util.ResourceRetriever retriever() {
        return url -> {
            try {
                Answer answer = get(url.toURI());
                if (answer.status() != 200) {
                    throw new IOException(url.getHost() + " answered " + answer.status() + " for its keys");
                }
                return new com.nimbusds.jose.util.Resource(answer.body(), answer.contentType());
            } catch (java.net.URISyntaxException e) {
                throw new IOException(e);
            }
        };
    }
}
