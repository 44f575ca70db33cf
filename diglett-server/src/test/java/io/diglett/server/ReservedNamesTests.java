package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.diglett.agent.Agent;
import io.diglett.agent.RejectedException;
import io.diglett.server.TestServers.Backend;
import io.diglett.server.auth.Authenticator;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.ReservedNames;
import io.diglett.server.registrar.Registrar;
import io.diglett.server.registrar.RegistrarProvider;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reserved names ({@code --reserved-names}): whatever a token allows, no agent gets {@code www} (and the rest of
 * the list): the registrar is never asked to expose it and the built-in ingress never serves it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ReservedNamesTests {

    @TempDir
    Path temp;

    @Test
    void aReservedNameIsRefusedBeforeTheRegistrarOrTheIngressSeeIt() throws Exception {
        Path record = temp.resolve("record");
        Registrar exec = RegistrarProvider.find("exec").create(Map.of("command",
                "echo \"$ACTION $NAME\" >> " + record));
        try (Backend echo = new Backend(s -> s.getInputStream().transferTo(s.getOutputStream()));
             TunnelFixture fixture = new TunnelFixture(GatewayConfig.defaults()
                     .withIngress(IngressTests.ingressSettings()), Authenticator.open(), exec)) {
            for (String name : List.of("www", "api", "admin", "status", "mail")) {
                assertEquals("name '" + name + "' is reserved by this gateway's operator",
                        refused(fixture, name, echo.port()).getMessage());
            }
            fixture.expose("web", echo.port());
            assertEquals(List.of("register web"), Files.readAllLines(record), "the registrar saw only 'web'");
            int http = fixture.gateway.httpPort().orElseThrow();
            try (Socket client = TestServers.connect(http)) {
                var answer = HttpTestClient.exchange(client, HttpTestClient.get("www." + IngressTests.DOMAIN, "/"));
                assertEquals(404, answer.status(), "the ingress knows no 'www'");
            }

            // the operator's own list replaces the default
            fixture.gateway.useReservedNames(ReservedNames.parse(" shop, blog "));
            fixture.expose("www", echo.port());
            assertEquals("name 'shop' is reserved by this gateway's operator",
                    refused(fixture, "shop", echo.port()).getMessage());
        }
    }

    @Test
    void theListIsDnsLabels() {
        assertEquals(ReservedNames.none(), ReservedNames.parse(" , "));
        var bad = assertThrows(IllegalArgumentException.class, () -> ReservedNames.parse("www,Mail"));
        assertEquals("reserved name 'Mail' is not a DNS label: only a-z, 0-9 and '-' are allowed", bad.getMessage());
    }

    private static RejectedException refused(TunnelFixture fixture, String name, int port) {
        Agent agent = fixture.agent(fixture.agentConfig(name, port));
        ExecutionException failure = assertThrows(ExecutionException.class,
                () -> agent.start().get(10, TimeUnit.SECONDS));
        agent.close();
        return assertInstanceOf(RejectedException.class, failure.getCause());
    }
}
