package io.diglett.server.visitor;

import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
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

    /** Calls of one name's login under way or waiting, at most: one name cannot take every place in the queue. */
    static final int MAX_PER_NAME = 8;
    private static final Workers POOL = new Workers("diglett-identity", 2, MAX_WAITING, MAX_PER_NAME);
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


    /**
     * {@code work} on the identity threads, counted in {@code perName} (the calling login's); failed with a
     * RejectedExecutionException when too many wait, in all or for that name.
     */
    static <T> CompletableFuture<T> submit(java.util.concurrent.atomic.AtomicInteger perName, Callable<T> work) {
        return POOL.submit(perName, work);
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

    /** The whole of a call, its answer's body included, at most: a provider that trickles is cut off. */
    static final Duration DEADLINE = Duration.ofSeconds(10);

    private static Answer send(HttpRequest.Builder request) throws IOException {
        URI uri = request.build().uri();
        checkAddress(uri);
        BoundedBody body = new BoundedBody();
        CompletableFuture<HttpResponse<byte[]>> call = HTTP.sendAsync(request.build(), info -> body);
        try {
            HttpResponse<byte[]> response = call.get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            return new Answer(response.statusCode(), response.headers().firstValue("Content-Type").orElse(null),
                    new String(response.body(), java.nio.charset.StandardCharsets.UTF_8));
        } catch (java.util.concurrent.TimeoutException e) {
            body.cancel();
            call.cancel(true);
            throw new IOException(uri.getHost() + " did not answer in full within " + DEADLINE.toSeconds() + " s");
        } catch (InterruptedException e) {
            body.cancel();
            call.cancel(true);
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
    }

    /** A response body of at most {@link #MAX_BODY} bytes: more cancels the exchange. */
    private static final class BoundedBody implements HttpResponse.BodySubscriber<byte[]> {
        private final CompletableFuture<byte[]> result = new CompletableFuture<>();
        private final java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        private volatile java.util.concurrent.Flow.Subscription subscription;

        @Override
        public java.util.concurrent.CompletionStage<byte[]> getBody() {
            return result;
        }

        @Override
        public void onSubscribe(java.util.concurrent.Flow.Subscription s) {
            subscription = s;
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(java.util.List<java.nio.ByteBuffer> buffers) {
            for (java.nio.ByteBuffer buffer : buffers) {
                if (bytes.size() + buffer.remaining() > MAX_BODY) {
                    cancel();
                    result.completeExceptionally(new IOException("the provider answered more than " + MAX_BODY
                            + " bytes"));
                    return;
                }
                byte[] chunk = new byte[buffer.remaining()];
                buffer.get(chunk);
                bytes.writeBytes(chunk);
            }
        }

        @Override
        public void onError(Throwable error) {
            result.completeExceptionally(error);
        }

        @Override
        public void onComplete() {
            result.complete(bytes.toByteArray());
        }

        void cancel() {
            java.util.concurrent.Flow.Subscription s = subscription;
            if (s != null) {
                s.cancel();
            }
        }
    }

    /**
     * Refuses a provider whose host resolves to a loopback, private, shared (100.64.0.0/10), link-local,
     * unique-local, NAT64, multicast or unspecified address, unless those are allowed.
     */
    static void checkAddress(URI uri) throws IOException {
        if (privateProviders) {
            return;
        }
        for (InetAddress address : InetAddress.getAllByName(uri.getHost())) {
            byte[] bytes = address.getAddress();
            boolean uniqueLocal = bytes.length == 16 && (bytes[0] & 0xfe) == 0xfc;
            boolean sharedSpace = bytes.length == 4 && (bytes[0] & 0xff) == 100 && (bytes[1] & 0xc0) == 64;
            boolean nat64 = bytes.length == 16 && bytes[0] == 0 && bytes[1] == 0x64 && bytes[2] == (byte) 0xff
                    && bytes[3] == (byte) 0x9b; // 64:ff9b::/96 embeds any IPv4 address, private ones too
            if (address.isLoopbackAddress() || address.isSiteLocalAddress() || address.isLinkLocalAddress()
                    || address.isAnyLocalAddress() || address.isMulticastAddress() || uniqueLocal || sharedSpace
                    || nat64) {
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
