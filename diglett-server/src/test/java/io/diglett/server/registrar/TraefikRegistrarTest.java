package io.diglett.server.registrar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The traefik registrar writes and deletes in the order it is asked, and a withdrawal removes only the file its
 * own exposure wrote: after a quick reconnect (the new link registered the name again on another port), the
 * dead link's withdrawal leaves the new file alone.
 */
class TraefikRegistrarTest {

    @TempDir
    Path dir;

    @Test
    void theOldLinksWithdrawalDoesNotRemoveTheNewLinksFile() throws Exception {
        TraefikRegistrar traefik = new TraefikRegistrar(dir, "gateway.test", "", "127.0.0.1");
        Registrar.Exposure old = new Registrar.Exposure("web", 40001, "10.0.0.1:5000", "alice");
        Registrar.Exposure fresh = new Registrar.Exposure("web", 40002, "10.0.0.1:5001", "alice");
        try {
            traefik.register(old).toCompletableFuture().get(10, TimeUnit.SECONDS);
            // the new link's registration, then the old link's withdrawal arriving late
            var registered = traefik.register(fresh).toCompletableFuture();
            traefik.unregister(old);
            registered.get(10, TimeUnit.SECONDS);
        } finally {
            traefik.close(); // finishes what was asked
        }
        Path file = dir.resolve("diglett-web.yml");
        assertTrue(Files.exists(file), "the new link's file stays");
        assertTrue(Files.readString(file).contains("http://127.0.0.1:40002"), Files.readString(file));
    }

    /** An operator's own {@code diglett-NAME.yml} (no mark) refuses the name for good and is never touched. */
    @Test
    void anOperatorsUnmarkedFileIsNeitherOverwrittenNorDeleted() throws Exception {
        Path file = dir.resolve("diglett-shop.yml");
        String operators = "http:\n  routers:\n    shop:\n      rule: \"Host(`shop.gateway.test`)\"\n";
        Files.writeString(file, operators);
        TraefikRegistrar traefik = new TraefikRegistrar(dir, "gateway.test", "", "127.0.0.1");
        Registrar.Exposure shop = new Registrar.Exposure("shop", 40003, "agent", "p");
        try {
            ExecutionException refused = assertThrows(ExecutionException.class,
                    () -> traefik.register(shop).toCompletableFuture().get(10, TimeUnit.SECONDS));
            assertInstanceOf(NameRefusedException.class, refused.getCause());
            assertEquals("'shop.gateway.test' is a site of the operator's own configuration",
                    refused.getCause().getMessage());
            traefik.unregister(shop);
        } finally {
            traefik.close(); // finishes what was asked
        }
        assertEquals(operators, Files.readString(file));
    }

    @Test
    void operationsOnOneNameRunInTheOrderAsked() throws Exception {
        TraefikRegistrar traefik = new TraefikRegistrar(dir, "gateway.test", "", "127.0.0.1");
        Path file = dir.resolve("diglett-api.yml");
        try {
            for (int i = 0; i < 200; i++) {
                Registrar.Exposure exposure = new Registrar.Exposure("api", 41000 + i, "agent", "p");
                traefik.register(exposure);
                traefik.unregister(exposure);
            }
            Registrar.Exposure last = new Registrar.Exposure("api", 42000, "agent", "p");
            traefik.register(last).toCompletableFuture().get(10, TimeUnit.SECONDS);
        } finally {
            traefik.close();
        }
        assertTrue(Files.readString(file).contains(":42000"), "the last registration wins");
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "one file, no temporaries left");
        }
        assertFalse(Files.exists(dir.resolve("diglett-other.yml")));
    }
}
