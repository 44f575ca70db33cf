package io.diglett.server.acme;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.security.KeyPair;
import org.junit.jupiter.api.Test;

/** Key pairs survive their PEM text: EC (certificates, the account) and RSA (validation certificates). */
class PemTest {

    @Test
    void keyPairsRoundTrip() throws IOException {
        for (KeyPair pair : new KeyPair[] {Pem.newKeyPair(), Pem.newRsaKeyPair()}) {
            KeyPair read = Pem.keyPair(Pem.of(pair));
            assertEquals(pair.getPublic(), read.getPublic());
            assertEquals(pair.getPrivate(), read.getPrivate());
        }
    }

    @Test
    void aPrivateKeyAloneIsNotAPair() {
        String pem = Pem.of(Pem.newKeyPair());
        String privateOnly = pem.substring(0, pem.indexOf("-----BEGIN PUBLIC KEY-----"));
        assertThrows(IOException.class, () -> Pem.keyPair(privateOnly));
    }
}
