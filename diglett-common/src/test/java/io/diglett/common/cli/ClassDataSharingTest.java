package io.diglett.common.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClassDataSharingTest {

    @TempDir
    Path dir;

    @AfterEach
    void clear() {
        System.clearProperty(ClassDataSharing.MARKER_PROPERTY);
    }

    @Test
    void aRunThatWorksCreatesTheMarkerTheLauncherAskedFor() {
        Path marker = dir.resolve("diglett-agent-all.jar.123.jsa.4567.ok");
        System.setProperty(ClassDataSharing.MARKER_PROPERTY, marker.toString());

        ClassDataSharing.working();
        ClassDataSharing.working();  // the agent comes online again after a reconnect: no harm

        assertTrue(Files.exists(marker));
    }

    @Test
    void withoutTheLauncherNothingIsWritten() throws Exception {
        ClassDataSharing.working();

        try (var files = Files.list(dir)) {
            assertFalse(files.findAny().isPresent());
        }
    }

    @Test
    void aMarkerThatCannotBeWrittenIsNotAnError() {
        System.setProperty(ClassDataSharing.MARKER_PROPERTY, dir.resolve("missing/dir/x.ok").toString());

        ClassDataSharing.working();

        assertFalse(Files.exists(dir.resolve("missing")));
    }
}
