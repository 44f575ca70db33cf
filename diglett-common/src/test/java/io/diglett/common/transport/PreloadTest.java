package io.diglett.common.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.handler.ssl.OpenSsl;
import org.junit.jupiter.api.Test;

class PreloadTest {

    /** A daemon (it never keeps a program from exiting), named for thread dumps, and it ends once loaded. */
    @Test
    void loadsOnADaemonThreadOfItsOwnAndEnds() throws InterruptedException {
        Thread thread = Preload.nativeLibraries(true);
        assertTrue(thread.isDaemon());
        assertEquals(Preload.THREAD_NAME, thread.getName());
        thread.join(10_000);
        assertFalse(thread.isAlive(), "the libraries are loaded within 10 s");
        assertEquals(OpenSsl.isAvailable() ? io.netty.handler.ssl.SslProvider.OPENSSL
                : io.netty.handler.ssl.SslProvider.JDK, Tls.provider(), "the same answer as without it");
    }
}
