package io.diglett.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The known-gateways file: records made at once by many agents all kept, forgetting one, replaced whole. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class KnownGatewaysTest {

    @TempDir
    Path temp;

    @Test
    void agentsRecordingAtOnceInOneProcessKeepEveryLine() throws Exception {
        Path file = temp.resolve("config/known_gateways");
        int agents = 16;
        CyclicBarrier start = new CyclicBarrier(agents);
        ExecutorService pool = Executors.newFixedThreadPool(agents);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int i = 0; i < agents; i++) {
                String gateway = "gw" + i + ".example:20000";
                done.add(pool.submit(() -> {
                    start.await();
                    new KnownGateways(file).add(gateway, "ca");
                    return null;
                }));
            }
            for (Future<?> agent : done) {
                agent.get(); // an agent that could not record fails here
            }
        } finally {
            pool.shutdownNow();
        }
        List<String> lines = Files.readAllLines(file);
        assertEquals(1, lines.stream().filter(line -> line.startsWith("#")).count(), String.join("\n", lines));
        for (int i = 0; i < agents; i++) {
            assertTrue(lines.contains("gw" + i + ".example:20000 ca"), String.join("\n", lines));
        }
        assertEquals(agents + 1, lines.size(), String.join("\n", lines));
        try (var left = Files.list(file.getParent())) {
            assertEquals(List.of("known_gateways", "known_gateways.lock"),
                    left.map(p -> p.getFileName().toString()).sorted().toList(), "no temporary file is left");
        }
    }

    @Test
    void forgettingRemovesOnlyThatGatewayAndTheFirstRecordHolds() throws Exception {
        Path file = temp.resolve("known_gateways");
        KnownGateways known = new KnownGateways(file);
        known.add("a.example:20000", "SHA256:AAAA");
        assertEquals("SHA256:AAAA", known.add("a.example:20000", "SHA256:BBBB"), "the first record holds");
        known.add("b.example:20000", "ca");
        Files.writeString(file, Files.readString(file) + "# a.example:20000 SHA256:comment\n");

        assertEquals(List.of("SHA256:AAAA"), known.forget("a.example:20000"));
        assertEquals(null, known.get("a.example:20000"));
        assertEquals("ca", known.get("b.example:20000"));
        assertTrue(Files.readString(file).contains("# a.example:20000 SHA256:comment"), "comments stay");
        assertEquals(List.of(), known.forget("a.example:20000"), "nothing left to forget");
    }

    /** Spellings DNS treats as one host are one record: case, a trailing dot, an IPv6 address written long. */
    @Test
    void everySpellingOfAGatewayFindsItsRecord() throws Exception {
        Path file = temp.resolve("known_gateways");
        KnownGateways known = new KnownGateways(file);
        known.add("GW.Example.com.:20000", "SHA256:AAAA");
        assertEquals("SHA256:AAAA", known.get("gw.example.com:20000"));
        assertEquals("SHA256:AAAA", known.get("gw.EXAMPLE.com..:20000"));
        assertEquals(null, known.get("gw.example.com:20001"), "another port is another gateway");
        assertTrue(Files.readString(file).contains("\ngw.example.com:20000 SHA256:AAAA\n"), "recorded canonical");
        known.add("[0:0:0:0:0:0:0:1]:20000", "ca");
        assertEquals("ca", known.get("[::1]:20000"));
        Files.writeString(file, Files.readString(file) + "OLD.example:20000 SHA256:CCCC\n"); // written by hand
        assertEquals("SHA256:CCCC", known.get("old.example:20000"));
        assertEquals(List.of("SHA256:AAAA"), known.forget("gw.example.com.:20000"));
        assertEquals(null, known.get("GW.example.com:20000"));
    }

    @Test
    void aSymbolicLinkStaysALinkToTheReplacedFile() throws Exception {
        Path real = temp.resolve("dotfiles/known_gateways");
        Files.createDirectories(real.getParent());
        Files.writeString(real, "");
        Path link = Files.createSymbolicLink(temp.resolve("known_gateways"), real);
        new KnownGateways(link).add("gw.example:20000", "ca");
        assertTrue(Files.isSymbolicLink(link));
        assertTrue(Files.readString(real).contains("gw.example:20000 ca"), Files.readString(real));
    }
}
