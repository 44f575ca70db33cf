package io.diglett.server.tls;

import static org.junit.jupiter.api.Assertions.assertSame;

import io.diglett.common.testing.ManualClock;
import io.netty.handler.ssl.SslContext;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The context per server name: the name's own, else the wildcard, else the fallback; expired ones passed over. */
class IngressCertificatesTest {

    private static SslContext context(Path dir, String name) throws Exception {
        Path cert = dir.resolve(name + ".crt");
        Path key = dir.resolve(name + ".key");
        GatewayTls.generate(cert, key, name, List.of(name));
        return IngressCertificates.context(GatewayTls.readPrivateKey(key), GatewayTls.readCertificates(cert));
    }

    @Test
    void theNamesOwnThenTheWildcardThenTheFallbackAndNeverAnExpiredOne(@TempDir Path dir) throws Exception {
        SslContext fallback = context(dir, "fallback.test");
        SslContext own = context(dir, "web.gw.test");
        SslContext wildcard = context(dir, "wildcard.gw.test");
        ManualClock clock = new ManualClock(Instant.parse("2026-12-05T00:00:00Z"));
        IngressCertificates served = new IngressCertificates(fallback, clock);
        assertSame(fallback, served.forHost("web.gw.test"));
        assertSame(fallback, served.forHost(null));
        served.putWildcard(wildcard, clock.instant().plus(Duration.ofDays(2)));
        served.put("web.gw.test", own, clock.instant().plus(Duration.ofDays(1)));
        assertSame(own, served.forHost("WEB.gw.test"), "the name's own, whatever the case");
        assertSame(wildcard, served.forHost("other.gw.test"));
        assertSame(wildcard, served.forHost(null));
        clock.advance(Duration.ofDays(1));
        assertSame(wildcard, served.forHost("web.gw.test"), "its own expired: the wildcard");
        clock.advance(Duration.ofDays(1));
        assertSame(fallback, served.forHost("web.gw.test"), "both expired: the fallback");
        served.put("web.gw.test", own, clock.instant().plus(Duration.ofDays(90)));
        assertSame(own, served.forHost("web.gw.test"), "a renewal replaces it");
    }
}
