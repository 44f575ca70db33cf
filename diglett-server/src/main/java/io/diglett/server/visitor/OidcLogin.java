package io.diglett.server.visitor;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jwt.JWT;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.oauth2.sdk.AuthorizationCode;
import com.nimbusds.oauth2.sdk.AuthorizationCodeGrant;
import com.nimbusds.oauth2.sdk.ResponseType;
import com.nimbusds.oauth2.sdk.Scope;
import com.nimbusds.oauth2.sdk.TokenRequest;
import com.nimbusds.oauth2.sdk.TokenResponse;
import com.nimbusds.oauth2.sdk.auth.ClientSecretBasic;
import com.nimbusds.oauth2.sdk.auth.Secret;
import com.nimbusds.oauth2.sdk.http.HTTPRequest;
import com.nimbusds.oauth2.sdk.http.HTTPResponse;
import com.nimbusds.oauth2.sdk.id.ClientID;
import com.nimbusds.oauth2.sdk.id.Issuer;
import com.nimbusds.oauth2.sdk.id.State;
import com.nimbusds.oauth2.sdk.pkce.CodeChallengeMethod;
import com.nimbusds.oauth2.sdk.pkce.CodeVerifier;
import com.nimbusds.openid.connect.sdk.AuthenticationRequest;
import com.nimbusds.openid.connect.sdk.Nonce;
import com.nimbusds.openid.connect.sdk.OIDCTokenResponse;
import com.nimbusds.openid.connect.sdk.OIDCTokenResponseParser;
import com.nimbusds.openid.connect.sdk.claims.IDTokenClaimsSet;
import com.nimbusds.openid.connect.sdk.op.OIDCProviderMetadata;
import com.nimbusds.openid.connect.sdk.validators.IDTokenValidator;
import io.diglett.protocol.Policy;
import io.diglett.protocol.Printable;
import io.diglett.protocol.Reasons;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.cookie.Cookie;
import io.netty.handler.codec.http.cookie.ServerCookieDecoder;
import java.io.IOException;
import java.net.URI;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OpenID Connect login on the name's own host (docs/policy.md): a browser without a session is sent to the
 * provider (authorization code flow with PKCE, a state and a nonce; the login is kept in the browser, in a cookie the
 * gateway encrypts, and none of it at the gateway); the provider
 * sends it back to {@value #CALLBACK}, where the gateway exchanges the code, checks the ID token (Nimbus: the
 * provider's keys, issuer, audience, expiry, nonce) and the account against the allowed ones, and sets a session
 * cookie: a JWT the gateway signs ({@link SessionKeys}), HttpOnly, Secure, SameSite=Lax, host-only
 * ({@code __Host-}), for this host alone, for 8 h. The backend gets {@code X-Diglett-User} and {@code X-Diglett-Email}
 * and never the cookies. Only over HTTPS.
 */
public final class OidcLogin implements VisitorLogin {

    private static final Logger log = LoggerFactory.getLogger(OidcLogin.class);

    static final String CALLBACK = OWN_PATHS + "oidc/callback";
    static final String LOGOUT = OWN_PATHS + "oidc/logout";
    static final String SESSION_COOKIE = "__Host-diglett-session";
    static final String LOGIN_COOKIE = "__Host-diglett-login";
    static final long SESSION_SECONDS = TimeUnit.HOURS.toSeconds(8);
    static final long LOGIN_SECONDS = TimeUnit.MINUTES.toSeconds(10);
    /** The issuer of the gateway's session tokens. */
    private static final String SESSION_ISSUER = "diglett-gateway";

    private final Policy.Oidc config;
    /** The provider's metadata and ID token checks, once discovered. */
    private volatile Provider provider;
    /** The discovery under way, or the last one that failed (kept for {@link #RETRY_NANOS}). */
    private CompletableFuture<Provider> discovery;
    private long discoveryFailedAt;
    /** A failed discovery is tried again after this long; meanwhile visitors get its error at once. */
    static final long RETRY_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** This name's calls on the identity threads. */
    private final java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
    private record Provider(OIDCProviderMetadata metadata, IDTokenValidator validator) {
    }

    /** A login sent to the provider: what its return must match, and where the visitor was going. */
    private record Pending(State state, CodeVerifier verifier, Nonce nonce, URI redirect, String returnTo) {
    }

    OidcLogin(Policy.Oidc config) {
        this.config = config;
    }

    @Override
    public Gate gate(HttpRequest request, String target, String host, String given, boolean https) {
        if (!https) {
            return new Gate.UseHttps();
        }
        String authority = authority(host, given);
        String path = new QueryStringDecoder(target).path();
        if (path.equals(CALLBACK)) {
            return new Gate.Answer(callback(request, target, host, authority));
        }
        if (path.equals(LOGOUT)) {
            return new Gate.Answer(CompletableFuture.completedFuture(new Gate.Reply(200, null,
                    List.of(expired(SESSION_COOKIE)), "You are logged out of " + host + ".")));
        }
        Identity who = session(request, host);
        if (who != null && !path.startsWith(OWN_PATHS)) {
            return new Gate.Pass(who);
        }
        if (!HttpMethod.GET.equals(request.method()) && !HttpMethod.HEAD.equals(request.method())) {
            return new Gate.Answer(CompletableFuture.completedFuture(Gate.Reply.page(403, "Log in with a browser"
                    + " first: open https://" + authority + "/")));
        }
        // back to a path of this host only: never '//host' or a backslash, which browsers read as another host
        String returnTo = target.startsWith("/") && !target.startsWith("//") && target.indexOf('\\') < 0
                && !path.startsWith(OWN_PATHS) ? target : "/";
        return new Gate.Answer(provider().thenApply(p -> start(p, returnTo, authority)));
    }

    @Override
    public Identity again(HttpRequest request, String target, String host) {
        return new QueryStringDecoder(target).path().startsWith(OWN_PATHS) ? null : session(request, host);
    }

    @Override
    public void strip(HttpRequest request) {
        List<String> kept = new ArrayList<>();
        for (String header : request.headers().getAll(HttpHeaderNames.COOKIE)) {
            for (String pair : header.split(";")) {
                String cookie = pair.strip();
                if (!cookie.isEmpty() && !cookie.startsWith(SESSION_COOKIE + "=")
                        && !cookie.startsWith(LOGIN_COOKIE + "=")) {
                    kept.add(cookie);
                }
            }
        }
        request.headers().remove(HttpHeaderNames.COOKIE);
        if (!kept.isEmpty()) {
            request.headers().set(HttpHeaderNames.COOKIE, String.join("; ", kept));
        }
    }

    /**
     * The provider's metadata, discovered once (on an identity thread): one discovery at a time for every visitor,
     * and a failure is answered at once for {@link #RETRY_NANOS} before it is tried again.
     */
    private synchronized CompletableFuture<Provider> provider() {
        Provider known = provider;
        if (known != null) {
            return CompletableFuture.completedFuture(known);
        }
        if (discovery != null && (!discovery.isCompletedExceptionally()
                || System.nanoTime() - discoveryFailedAt < RETRY_NANOS)) {
            return discovery;
        }
        CompletableFuture<Provider> started = IdentityCalls.submit(calls, () -> {
            Provider found = discover();
            provider = found;
            return found;
        });
        started.whenComplete((found, error) -> {
            if (error != null) {
                synchronized (this) {
                    discoveryFailedAt = System.nanoTime();
                }
                log.info("OpenID provider {} could not be discovered: {}", config.issuer(), Printable.of(
                        Reasons.of(error), 256));
            }
        });
        discovery = started;
        return started;
    }

    private Provider discover() throws Exception {
        String issuer = config.issuer().endsWith("/") ? config.issuer().substring(0, config.issuer().length() - 1)
                : config.issuer();
        IdentityCalls.Answer answer = IdentityCalls.get(URI.create(issuer + "/.well-known/openid-configuration"));
        if (answer.status() != 200) {
            throw new IOException("its discovery document answered " + answer.status());
        }
        OIDCProviderMetadata metadata = OIDCProviderMetadata.parse(answer.body());
        if (!metadata.getIssuer().getValue().equals(config.issuer())) {
            throw new IOException("it names itself '" + Printable.of(metadata.getIssuer().getValue(), 200)
                    + "', not the oidc-issuer '" + config.issuer() + "'");
        }
        if (metadata.getTokenEndpointURI() == null || metadata.getJWKSetURI() == null
                || metadata.getAuthorizationEndpointURI() == null) {
            throw new IOException("its discovery document has no authorization or token endpoint, or no keys");
        }
        try { // the endpoints the document names are held to the issuer's rule: https (http only to loopback)
            Policy.providerUrl("authorization_endpoint", metadata.getAuthorizationEndpointURI().toString());
            Policy.providerUrl("token_endpoint", metadata.getTokenEndpointURI().toString());
            Policy.providerUrl("jwks_uri", metadata.getJWKSetURI().toString());
        } catch (IllegalArgumentException e) {
            throw new IOException("its discovery document: " + e.getMessage(), e);
        }
        Set<JWSAlgorithm> algorithms = new java.util.HashSet<>(JWSAlgorithm.Family.RSA);
        algorithms.addAll(JWSAlgorithm.Family.EC);
        algorithms.addAll(JWSAlgorithm.Family.ED);
        if (metadata.getIDTokenJWSAlgs() != null) {
            algorithms.retainAll(metadata.getIDTokenJWSAlgs());
        }
        IDTokenValidator validator = new IDTokenValidator(new Issuer(config.issuer()), new ClientID(config.clientId()),
                new JWSVerificationKeySelector<SecurityContext>(algorithms, JWKSourceBuilder.<SecurityContext>create(
                        metadata.getJWKSetURI().toURL(), IdentityCalls.retriever()).build()), null);
        return new Provider(metadata, validator);
    }

    /** Sends the visitor to the provider, remembering the login by a new state bound to this browser. */
    private Gate.Reply start(Provider p, String returnTo, String authority) {
        State state = new State(Tokens.random(32));
        Nonce nonce = new Nonce(Tokens.random(32));
        CodeVerifier verifier = new CodeVerifier();
        URI redirect = URI.create("https://" + authority + CALLBACK);
        String login;
        try {
            login = SessionKeys.current().seal(new JWTClaimsSet.Builder().audience(authority)
                    .claim("state", state.getValue()).claim("nonce", nonce.getValue())
                    .claim("verifier", verifier.getValue()).claim("return", returnTo)
                    .expirationTime(new Date(System.currentTimeMillis() + TimeUnit.SECONDS.toMillis(LOGIN_SECONDS)))
                    .build());
        } catch (JOSEException e) {
            throw new IllegalStateException("cannot seal a login cookie", e);
        }
        URI location = new AuthenticationRequest.Builder(new ResponseType(ResponseType.Value.CODE),
                new Scope("openid", "email", "profile"), new ClientID(config.clientId()), redirect)
                .endpointURI(p.metadata().getAuthorizationEndpointURI()).state(state).nonce(nonce)
                .codeChallenge(verifier, CodeChallengeMethod.S256).build().toURI();
        return Gate.Reply.redirect(location.toString(), List.of(cookie(LOGIN_COOKIE, login, LOGIN_SECONDS)));
    }

    /** The provider sent the visitor back: the code exchanged and the ID token checked, a session set. */
    private CompletableFuture<Gate.Reply> callback(HttpRequest request, String target, String host,
                                                   String authority) {
        Map<String, List<String>> query = new QueryStringDecoder(target).parameters();
        String state = first(query, "state");
        Pending login = pending(cookieValue(request, LOGIN_COOKIE), authority);
        String again = " Start again at https://" + authority + "/";
        if (login == null || state == null || !MessageDigest.isEqual(state.getBytes(
                java.nio.charset.StandardCharsets.UTF_8), login.state().getValue().getBytes(
                java.nio.charset.StandardCharsets.UTF_8))) {
            return done(Gate.Reply.page(400, "This login was not started in this browser, or it expired." + again));
        }
        String error = first(query, "error");
        String code = first(query, "code");
        if (error != null || code == null) {
            return done(new Gate.Reply(403, null, List.of(expired(LOGIN_COOKIE)), "The identity provider did not log"
                    + " you in (" + (error == null ? "no code" : Printable.of(error, 64)) + ")." + again));
        }
        Pending started = login;
        return provider().thenCompose(p -> IdentityCalls.submit(calls, () -> finish(p, started, code, host,
                authority)));
    }

    private Gate.Reply finish(Provider p, Pending login, String code, String host, String authority) throws Exception {
        ClientID client = new ClientID(config.clientId());
        AuthorizationCodeGrant grant = new AuthorizationCodeGrant(new AuthorizationCode(code), login.redirect(),
                login.verifier());
        URI endpoint = p.metadata().getTokenEndpointURI();
        TokenRequest tokenRequest = config.clientSecret().isEmpty()
                ? new TokenRequest.Builder(endpoint, client, grant).build()
                : new TokenRequest.Builder(endpoint, new ClientSecretBasic(client, new Secret(config.clientSecret())),
                        grant).build();
        HTTPRequest http = tokenRequest.toHTTPRequest();
        IdentityCalls.Answer answer = IdentityCalls.postForm(endpoint, http.getBody(), http.getAuthorization());
        HTTPResponse response = new HTTPResponse(answer.status());
        if (answer.contentType() != null) {
            response.setContentType(answer.contentType());
        }
        response.setBody(answer.body());
        TokenResponse tokens = OIDCTokenResponseParser.parse(response);
        if (!tokens.indicatesSuccess()) {
            String why = tokens.toErrorResponse().getErrorObject().getCode();
            log.info("OpenID login for {}: the provider refused the code: {}", Printable.of(host), Printable.of(
                    String.valueOf(why), 128));
            return new Gate.Reply(403, null, List.of(expired(LOGIN_COOKIE)), "The identity provider refused the"
                    + " login. Start again at https://" + authority + "/");
        }
        JWT idToken = ((OIDCTokenResponse) tokens.toSuccessResponse()).getOIDCTokens().getIDToken();
        IDTokenClaimsSet claims;
        try {
            claims = p.validator().validate(idToken, login.nonce());
        } catch (Exception e) {
            log.info("OpenID login for {}: the ID token is not valid: {}", Printable.of(host), Printable.of(
                    String.valueOf(e.getMessage()), 256));
            return new Gate.Reply(403, null, List.of(expired(LOGIN_COOKIE)), "The identity provider's answer could"
                    + " not be verified.");
        }
        // an address counts only when the provider says it verified it (a missing or non-boolean claim does not)
        String email = Boolean.TRUE.equals(claims.getClaim("email_verified")) ? claims.getStringClaim("email") : null;
        String user = claims.getSubject().getValue(); // the account's stable, unique id at this provider
        if (!config.allows(email)) {
            log.info("OpenID login for {}: {} ({}) is not allowed", Printable.of(host), Printable.of(user, 128),
                    Printable.of(String.valueOf(email), 256));
            return new Gate.Reply(403, null, List.of(expired(LOGIN_COOKIE)), "Your account"
                    + (email == null ? " (without a verified email address)" : " " + email)
                    + " may not reach " + host + ".");
        }
        return Gate.Reply.redirect(login.returnTo(), List.of(cookie(SESSION_COOKIE, session(user, email, host),
                SESSION_SECONDS), expired(LOGIN_COOKIE)));
    }

    /**
     * The login the browser's login cookie holds (sealed by this gateway or, in a cluster, a node of it), if it is
     * one, for this authority, and unexpired; else {@code null}. Nothing of a login is kept at the gateway: a
     * flood of unauthenticated requests costs it no memory.
     */
    private static Pending pending(String cookie, String authority) {
        if (cookie == null || cookie.length() > 4096) {
            return null;
        }
        JWTClaimsSet claims = SessionKeys.current().open(cookie);
        try {
            if (claims == null || !claims.getAudience().equals(List.of(authority))
                    || claims.getExpirationTime() == null
                    || claims.getExpirationTime().getTime() < System.currentTimeMillis()) {
                return null;
            }
            return new Pending(new State(claims.getStringClaim("state")), new CodeVerifier(
                    claims.getStringClaim("verifier")), new Nonce(claims.getStringClaim("nonce")),
                    URI.create("https://" + authority + CALLBACK), claims.getStringClaim("return"));
        } catch (java.text.ParseException | IllegalArgumentException | NullPointerException e) {
            return null;
        }
    }

    /** A session token: who, for this host and provider, until when, signed with this gateway's key. */
    private String session(String user, String email, String host) throws JOSEException {
        long now = System.currentTimeMillis();
        JWTClaimsSet.Builder claims = new JWTClaimsSet.Builder().issuer(SESSION_ISSUER).subject(user).audience(host)
                .claim("idp", config.issuer()).issueTime(new Date(now))
                .expirationTime(new Date(now + TimeUnit.SECONDS.toMillis(SESSION_SECONDS)));
        if (email != null) {
            claims.claim("email", email);
        }
        return SessionKeys.current().sign(claims.build());
    }

    /** Who the request's session cookie names, if it is this gateway's, valid, for this host, and still allowed. */
    Identity session(HttpRequest request, String host) {
        String value = cookieValue(request, SESSION_COOKIE);
        if (value == null || value.length() > 4096) {
            return null;
        }
        try {
            JWTClaimsSet claims = SessionKeys.current().verify(value);
            if (claims == null) {
                return null;
            }
            String email = claims.getStringClaim("email");
            boolean valid = SESSION_ISSUER.equals(claims.getIssuer()) && claims.getAudience().equals(List.of(host))
                    && config.issuer().equals(claims.getStringClaim("idp")) && claims.getExpirationTime() != null
                    && claims.getExpirationTime().getTime() > System.currentTimeMillis() && config.allows(email);
            return valid ? new Identity(claims.getSubject(), email) : null;
        } catch (java.text.ParseException e) {
            return null;
        }
    }

    /**
     * The authority redirects and cookies are built with: the routed host, and the port the client named if it is a
     * number (never the rest of a Host header, which the client wrote).
     */
    static String authority(String host, String given) {
        int colon = given.lastIndexOf(':');
        String port = colon < 0 || given.endsWith("]") ? "" : given.substring(colon + 1);
        boolean numeric = !port.isEmpty() && port.length() <= 5 && port.chars().allMatch(Character::isDigit);
        return numeric ? host + ":" + port : host;
    }

    private static String cookieValue(HttpRequest request, String name) {
        for (String header : request.headers().getAll(HttpHeaderNames.COOKIE)) {
            for (Cookie cookie : ServerCookieDecoder.LAX.decode(header)) {
                if (cookie.name().equals(name)) {
                    return cookie.value();
                }
            }
        }
        return null;
    }

    private static String cookie(String name, String value, long maxAgeSeconds) {
        return name + "=" + value + "; Path=/; Max-Age=" + maxAgeSeconds + "; Secure; HttpOnly; SameSite=Lax";
    }

    private static String expired(String name) {
        return cookie(name, "", 0);
    }

    private static String first(Map<String, List<String>> query, String name) {
        List<String> values = query.get(name);
        return values == null || values.isEmpty() ? null : values.get(0);
    }

    private static <T> CompletableFuture<T> done(T value) {
        return CompletableFuture.completedFuture(value);
    }
}
