package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The gateway's packages depend on one another in one direction only (docs/architecture.md, "The gateway's
 * packages"): a package imports only packages of a lower layer. Read from the main sources' import lines.
 */
class PackageLayersTest {

    /** Each package of io.diglett.server and its layer: higher layers may use lower ones, never the reverse. */
    private static final Map<String, Integer> LAYERS = Map.ofEntries(
            Map.entry("cli", 7),
            Map.entry("", 6),
            Map.entry("admin", 5),
            Map.entry("ingress", 4),
            Map.entry("cluster", 4),
            Map.entry("link", 3),
            Map.entry("acme", 3),
            Map.entry("registrar", 2),
            Map.entry("auth", 2),
            Map.entry("tls", 2),
            Map.entry("visitor", 2),
            Map.entry("config", 1));

    private static final Pattern IMPORT = Pattern.compile("^import (?:static )?io\\.diglett\\.server\\.([\\w.]+);",
            Pattern.MULTILINE);
    private static final Path SOURCES = Path.of("src/main/java/io/diglett/server");

    @Test
    void noPackageImportsALayerAboveOrBesideItself() throws IOException {
        List<String> violations = new ArrayList<>();
        List<Path> files;
        try (Stream<Path> walk = Files.walk(SOURCES)) {
            files = walk.filter(p -> p.toString().endsWith(".java")).toList();
        }
        assertTrue(files.size() > 30, "found the gateway's sources: " + files.size());
        for (Path file : files) {
            String from = packageOf(SOURCES.relativize(file.getParent()).toString().replace('/', '.'));
            Integer fromLayer = LAYERS.get(from);
            assertTrue(fromLayer != null, "package '" + from + "' of " + file + " has no layer: add it to LAYERS"
                    + " and to docs/architecture.md");
            Matcher imports = IMPORT.matcher(Files.readString(file));
            while (imports.find()) {
                String target = imports.group(1);
                String to = packageOf(target.contains(".") && Character.isLowerCase(target.charAt(0))
                        ? target.substring(0, target.indexOf('.')) : "");
                if (!to.equals(from) && LAYERS.get(to) >= fromLayer) {
                    violations.add(file + " imports io.diglett.server." + target + " (layer " + LAYERS.get(to)
                            + ", its own is " + fromLayer + ")");
                }
            }
        }
        assertEquals(List.of(), violations);
    }

    private static String packageOf(String relative) {
        int dot = relative.indexOf('.');
        return dot < 0 ? relative : relative.substring(0, dot);
    }
}
