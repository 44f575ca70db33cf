package io.diglett.server;

import io.diglett.server.config.GatewayConfig;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A real browser through the ingress: Debian's chromium, headless, loads {@code https://example.gateway.test}
 * (its resolver maps the name to 127.0.0.1) through a gateway and an agent, runs the page's script, and the
 * test reads the rendered DOM. {@code .ci/run} installs chromium.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BrowserTests {

    private static final String PAGE = "<!DOCTYPE html><html><head><title>diglett example</title></head><body>"
            + "<p id=\"out\">not rendered</p><script>document.getElementById('out').textContent ="
            + " 'rendered by script at ' + location.protocol + '//' + location.hostname;</script></body></html>";

    @Test
    void chromiumLoadsTheExampleThroughTheHttpsIngress() throws Exception {
        String chromium = findChromium();
        HttpServer backend = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        backend.createContext("/", exchange -> {
            byte[] body = PAGE.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        backend.start();
        Path profile = Files.createTempDirectory("diglett-chromium");
        try (TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults()
                .withIngress(IngressTests.ingressSettings()))) {
            fixture.expose("example", backend.getAddress().getPort());
            int https = fixture.gateway.httpsPort().orElseThrow();
            String url = "https://example." + IngressTests.DOMAIN + ":" + https + "/";
            Process browser = new ProcessBuilder(chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--no-first-run", "--disable-extensions", "--user-data-dir=" + profile,
                    "--ignore-certificate-errors", // the ingress's self-signed *.gateway.test certificate
                    "--host-resolver-rules=MAP *." + IngressTests.DOMAIN + " 127.0.0.1",
                    "--virtual-time-budget=5000", "--dump-dom", url)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String dom = new String(browser.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(browser.waitFor(60, TimeUnit.SECONDS), "chromium finished");
            assertEquals(0, browser.exitValue(), dom);
            assertTrue(dom.contains("rendered by script at https://example." + IngressTests.DOMAIN), dom);
            assertTrue(dom.contains("<title>diglett example</title>"), dom);
        } finally {
            backend.stop(0);
            deleteTree(profile);
        }
    }

    static String findChromium() {
        for (String candidate : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser")) {
            if (Files.isExecutable(Path.of(candidate))) {
                return candidate;
            }
        }
        throw new AssertionError("chromium is not installed: .ci/run installs Debian's chromium package"
                + " (apt-get install chromium)");
    }

    static void deleteTree(Path dir) throws IOException {
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
