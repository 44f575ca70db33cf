package io.diglett.server.visitor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.nimbusds.jwt.JWTClaimsSet;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The OpenID login's cookies: only this gateway's (or its cluster's) keys make or take them. */
class SessionKeysTest {

    @AfterEach
    void freshKeys() {
        SessionKeys.use(Tokens.key(32));
    }

    @Test
    void sealedLoginsAreUnreadableAndUntamperable() throws Exception {
        byte[] secret = new byte[32];
        Arrays.fill(secret, (byte) 7);
        SessionKeys.use(secret);
        JWTClaimsSet claims = new JWTClaimsSet.Builder().claim("verifier", "v3r1f13r").audience("a.example").build();
        String sealed = SessionKeys.current().seal(claims);
        assertFalse(sealed.contains("v3r1f13r"), "encrypted, not only signed");
        assertEquals("v3r1f13r", SessionKeys.current().open(sealed).getStringClaim("verifier"));
        char[] chars = sealed.toCharArray();
        int body = sealed.lastIndexOf('.') - 3;
        chars[body] = chars[body] == 'A' ? 'B' : 'A';
        assertNull(SessionKeys.current().open(new String(chars)), "a changed byte fails the GCM tag");
        assertNull(SessionKeys.current().open("not a token"));

        String signed = SessionKeys.current().sign(claims);
        assertEquals("a.example", SessionKeys.current().verify(signed).getAudience().get(0));
        SessionKeys.use(secret.clone());
        assertEquals("a.example", SessionKeys.current().verify(signed).getAudience().get(0),
                "another node with the cluster's secret takes it");
        SessionKeys.use(Tokens.key(32));
        assertNull(SessionKeys.current().verify(signed), "another gateway's session is worth nothing");
        assertNull(SessionKeys.current().open(sealed));
        String unsigned = new com.nimbusds.jwt.PlainJWT(claims).serialize();
        assertNull(SessionKeys.current().verify(unsigned), "alg none is never taken");
        assertThrows(IllegalArgumentException.class, () -> SessionKeys.use(new byte[15]));
    }
}
