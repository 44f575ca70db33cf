package io.diglett.server.visitor;

import com.nimbusds.jose.EncryptionMethod;
import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWEAlgorithm;
import com.nimbusds.jose.JWEHeader;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.DirectDecrypter;
import com.nimbusds.jose.crypto.DirectEncrypter;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.MACVerifier;
import com.nimbusds.jwt.EncryptedJWT;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The keys of the OpenID login's cookies (Nimbus JOSE): session tokens signed with HMAC-SHA256, login cookies
 * (state, nonce, PKCE verifier) encrypted with AES-256-GCM. Both are derived from one secret: a random one per
 * process by default (a restart asks visitors to log in again), or the cluster's shared one, so that any node
 * takes a cookie another node set ({@link #use}).
 */
public final class SessionKeys {

    private static volatile SessionKeys current = new SessionKeys(Tokens.key(32));

    private final byte[] mac;
    private final byte[] encryption;

    private SessionKeys(byte[] secret) {
        this.mac = derive(secret, "diglett visitor session mac");
        this.encryption = derive(secret, "diglett visitor login encryption");
    }

    /** Every node of a cluster uses {@code secret} (at least 16 bytes, the cluster's store). */
    public static void use(byte[] secret) {
        if (secret.length < 16) {
            throw new IllegalArgumentException("a session secret of " + secret.length + " bytes; at least 16");
        }
        current = new SessionKeys(secret);
    }

    static SessionKeys current() {
        return current;
    }

    /** A key for {@code purpose} from the secret: HMAC-SHA256(secret, purpose), as HKDF's expand step does. */
    private static byte[] derive(byte[] secret, String purpose) {
        try {
            Mac hmac = Mac.getInstance("HmacSHA256");
            hmac.init(new SecretKeySpec(secret, "HmacSHA256"));
            return hmac.doFinal(purpose.getBytes(StandardCharsets.US_ASCII));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK has no HmacSHA256", e);
        }
    }

    String sign(JWTClaimsSet claims) throws JOSEException {
        SignedJWT token = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), claims);
        token.sign(new MACSigner(mac));
        return token.serialize();
    }

    /** The claims of a token this gateway signed, or {@code null}. */
    JWTClaimsSet verify(String token) {
        try {
            SignedJWT jwt = SignedJWT.parse(token);
            if (!JWSAlgorithm.HS256.equals(jwt.getHeader().getAlgorithm()) || !jwt.verify(new MACVerifier(mac))) {
                return null;
            }
            return jwt.getJWTClaimsSet();
        } catch (java.text.ParseException | JOSEException e) {
            return null;
        }
    }

    String seal(JWTClaimsSet claims) throws JOSEException {
        EncryptedJWT token = new EncryptedJWT(new JWEHeader(JWEAlgorithm.DIR, EncryptionMethod.A256GCM), claims);
        token.encrypt(new DirectEncrypter(encryption));
        return token.serialize();
    }

    /** The claims of a token this gateway sealed, or {@code null}. */
    JWTClaimsSet open(String token) {
        try {
            EncryptedJWT jwt = EncryptedJWT.parse(token);
            if (!JWEAlgorithm.DIR.equals(jwt.getHeader().getAlgorithm())
                    || !EncryptionMethod.A256GCM.equals(jwt.getHeader().getEncryptionMethod())) {
                return null;
            }
            jwt.decrypt(new DirectDecrypter(encryption));
            return jwt.getJWTClaimsSet();
        } catch (java.text.ParseException | JOSEException e) {
            return null;
        }
    }
}
