package io.diglett.server.visitor;

import io.diglett.protocol.Policy;
import io.netty.handler.codec.http.HttpRequest;
import java.util.function.LongSupplier;

/**
 * How a name's visitors log in: basic auth ({@link BasicLogin}), a bearer token ({@link BearerLogin}) or an OpenID
 * Connect login ({@link OidcLogin}). Asked by the HTTP ingress on its event loop; anything slow (a password hash,
 * a provider's keys) runs on {@link IdentityCalls}' threads and comes back as a {@link Gate.Check} or
 * {@link Gate.Answer}.
 */
public interface VisitorLogin {

    /** Where the gateway's own paths on a name's host begin (the OpenID callback); never forwarded when logging in. */
    String OWN_PATHS = "/.diglett/";

    /**
     * The first request of a connection.
     *
     * @param request   its head
     * @param target    its target in origin form (path and query)
     * @param host      the name's host (routing's, without port)
     * @param authority the Host the client named (with its port, if any)
     * @param https     whether the connection is TLS terminated here
     */
    Gate gate(HttpRequest request, String target, String host, String authority, boolean https);

    /**
     * A later request on a connection that passed: its identity if the request proves it at once (a credential
     * verified lately, a valid session), else {@code null} (the connection ends; the next one is gated again).
     */
    Identity again(HttpRequest request, String target, String host);

    /** Removes the login's own credentials from a request before it is forwarded (a password, a session cookie). */
    void strip(HttpRequest request);

    /** The login {@code policy} asks for, or {@code null}. */
    static VisitorLogin of(Policy policy, LongSupplier nanos) {
        if (!policy.basicAuth().isEmpty()) {
            return new BasicLogin(policy.basicAuth(), nanos);
        }
        if (policy.jwt() != null) {
            return new BearerLogin(policy.jwt(), nanos);
        }
        if (policy.oidc() != null) {
            return new OidcLogin(policy.oidc());
        }
        return null;
    }
}
