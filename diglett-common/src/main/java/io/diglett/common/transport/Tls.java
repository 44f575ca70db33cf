package io.diglett.common.transport;

import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslProvider;

/**
 * The TLS implementation: BoringSSL (netty-tcnative, statically linked, bundled for Linux x86-64 and ARM64)
 * where it loads, else the JDK's engine. {@code -Ddiglett.tls=jdk} forces the JDK's. Like {@link Transport},
 * this only picks; it opens nothing.
 */
public final class Tls {

    private Tls() {
    }

    /** The provider for every SslContext of the programs. */
    public static SslProvider provider() {
        if (!"jdk".equalsIgnoreCase(System.getProperty("diglett.tls")) && OpenSsl.isAvailable()) {
            return SslProvider.OPENSSL;
        }
        return SslProvider.JDK;
    }

    /** For log lines: "BoringSSL" or "JDK". */
    public static String describe() {
        return provider() == SslProvider.OPENSSL ? OpenSsl.versionString() : "JDK " + System.getProperty("java.version");
    }
}
