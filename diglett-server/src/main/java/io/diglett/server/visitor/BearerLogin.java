package io.diglett.server.visitor;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.DefaultJOSEObjectTypeVerifier;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.ConfigurableJWTProcessor;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import io.diglett.protocol.Policy;
import io.diglett.protocol.Printable;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import java.net.MalformedURLException;
import java.net.URI;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A bearer token (a JSON Web Token) in {@code Authorization: Bearer}, checked by Nimbus JOSE+JWT: signed with an
 * asymmetric algorithm by a key of the name's JWK set (fetched through {@link IdentityCalls}, cached, fetched again
 * for an unknown key at most every 30 s), unexpired (60 s of clock skew), and from the issuer and for the audience
 * the policy names. A verified token is then taken at once until it expires, at most 10 min. The token is
 * forwarded (the backend may read its claims); the backend also gets {@code X-Diglett-User} (the subject) and
 * {@code X-Diglett-Email} when the token has an address it marks {@code email_verified}.
 */
public final class BearerLogin implements VisitorLogin {

    private static final Logger log = LoggerFactory.getLogger(BearerLogin.class);

    /** Verified tokens kept per name. */
    static final int MAX_VERIFIED = 1_000;
    static final long VERIFIED_NANOS = TimeUnit.MINUTES.toNanos(10);
    /** A token longer than this is refused unread. */
    static final int MAX_TOKEN = 8192;

    /** This name's calls on the identity threads. */
    private final java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
    private final ConfigurableJWTProcessor<SecurityContext> processor = new DefaultJWTProcessor<>();
    /** Tokens verified lately. */
    private final Verified verified;

    BearerLogin(Policy.Jwt jwt, LongSupplier nanos) {
        this.verified = new Verified(MAX_VERIFIED, nanos);
        JWKSource<SecurityContext> keys;
        try {
            keys = JWKSourceBuilder.<SecurityContext>create(URI.create(jwt.jwks()).toURL(), IdentityCalls.retriever())
                    .build();
        } catch (MalformedURLException e) {
            throw new IllegalArgumentException("jwt-jwks: " + e.getMessage(), e);
        }
        Set<JWSAlgorithm> algorithms = new java.util.HashSet<>(JWSAlgorithm.Family.RSA);
        algorithms.addAll(JWSAlgorithm.Family.EC);
        algorithms.addAll(JWSAlgorithm.Family.ED);
        processor.setJWSKeySelector(new JWSVerificationKeySelector<>(algorithms, keys));
        processor.setJWSTypeVerifier(new DefaultJOSEObjectTypeVerifier<>(JOSEObjectType.JWT,
                new JOSEObjectType("at+jwt"), null));
        JWTClaimsSet exact = jwt.issuer() == null ? new JWTClaimsSet.Builder().build()
                : new JWTClaimsSet.Builder().issuer(jwt.issuer()).build();
        processor.setJWTClaimsSetVerifier(new DefaultJWTClaimsVerifier<>(jwt.audience(), exact,
                Set.of("exp", "sub")));
    }

    @Override
    public Gate gate(HttpRequest request, String target, String host, String authority, boolean https) {
        String realm = "Bearer realm=\"" + host.replaceAll("[^A-Za-z0-9.-]", "") + "\"";
        String token = token(request);
        if (token == null) {
            return new Gate.Refuse(realm);
        }
        String key = Tokens.digest(token);
        Identity known = verified.get(key);
        if (known != null) {
            return new Gate.Pass(known);
        }
        return new Gate.Check(IdentityCalls.submit(calls, () -> verify(token, key, host)),
                realm + ", error=\"invalid_token\"");
    }

    private Identity verify(String token, String key, String host) {
        JWTClaimsSet claims;
        try {
            claims = processor.process(token, null);
        } catch (Exception e) { // BadJOSEException, JOSEException, ParseException: not a token to let in
            log.info("bearer token for {} refused: {}", Printable.of(host), Printable.of(String.valueOf(e.getMessage()),
                    256));
            return null;
        }
        Object email = claims.getClaim("email");
        boolean checked = Boolean.TRUE.equals(claims.getClaim("email_verified"));
        Identity who = new Identity(claims.getSubject(), checked && email instanceof String text ? text : null);
        long untilExpiry = TimeUnit.MILLISECONDS.toNanos(claims.getExpirationTime().getTime()
                - System.currentTimeMillis());
        verified.put(key, who, Math.min(VERIFIED_NANOS, untilExpiry));
        return who;
    }

    @Override
    public Identity again(HttpRequest request, String target, String host) {
        String token = token(request);
        return token == null ? null : verified.get(Tokens.digest(token));
    }

    @Override
    public void strip(HttpRequest request) {
        // the token is the backend's too: it may read its claims
    }

    private static String token(HttpRequest request) {
        String authorization = request.headers().get(HttpHeaderNames.AUTHORIZATION);
        if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)
                || authorization.length() > MAX_TOKEN) {
            return null;
        }
        String token = authorization.substring(7).trim();
        return token.isEmpty() ? null : token;
    }
}
