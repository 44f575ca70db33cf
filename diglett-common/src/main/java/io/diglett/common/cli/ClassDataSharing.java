package io.diglett.common.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The programs' side of the launchers' class-data sharing archive ({@code bin/launch.sh}): a run that the
 * launcher asks to make an archive gets {@code -Ddiglett.cds.marker=FILE}, and creates that file once it does
 * real work (the gateway listening, the agent online). The next start uses the archive this run's JVM writes at
 * exit only if the file is there, so a run that stopped early (a typo, a refused login) leaves no archive of
 * the few classes it loaded.
 */
public final class ClassDataSharing {

    private static final Logger log = LoggerFactory.getLogger(ClassDataSharing.class);

    /** The system property the launcher sets when this run makes an archive. */
    public static final String MARKER_PROPERTY = "diglett.cds.marker";

    private ClassDataSharing() {
    }

    /** This run got to work: its archive is worth keeping. Does nothing unless the launcher asked for one. */
    public static void working() {
        String marker = System.getProperty(MARKER_PROPERTY);
        if (marker == null || marker.isEmpty()) {
            return;
        }
        try {
            Files.write(Path.of(marker), new byte[0]);
        } catch (IOException | RuntimeException e) {
            log.debug("cannot mark this run's class-data archive as worth keeping ({}): {}", marker, e.toString());
        }
    }
}
