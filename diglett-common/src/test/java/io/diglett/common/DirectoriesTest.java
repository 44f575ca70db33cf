package io.diglett.common;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The XDG lookup reads the environment it is given: HOME and the XDG variables, never the process's own. */
class DirectoriesTest {

    @Test
    void homeFromTheEnvironmentWhenNoXdgVariableIsSet() {
        Directories directories = Directories.of(Map.of("HOME", "/somewhere"));
        assertEquals(Path.of("/somewhere/.config/diglett"), directories.config());
        assertEquals(Path.of("/somewhere/.local/state/diglett"), directories.state());
    }

    @Test
    void xdgVariablesWinOverHome() {
        Directories directories = Directories.of(Map.of("HOME", "/somewhere", "XDG_CONFIG_HOME", "/etc/xdg-config",
                "XDG_STATE_HOME", "/var/xdg-state"));
        assertEquals(Path.of("/etc/xdg-config/diglett"), directories.config());
        assertEquals(Path.of("/var/xdg-state/diglett"), directories.state());
        Directories stateOnly = Directories.of(Map.of("HOME", "/somewhere", "XDG_STATE_HOME", "/var/xdg-state"));
        assertEquals(Path.of("/somewhere/.config/diglett"), stateOnly.config(), "each variable on its own");
        assertEquals(Path.of("/var/xdg-state/diglett"), stateOnly.state());
    }

    @Test
    void blankVariablesCountAsUnset() {
        Directories directories = Directories.of(Map.of("HOME", "/somewhere", "XDG_CONFIG_HOME", "",
                "XDG_STATE_HOME", " "));
        assertEquals(Path.of("/somewhere/.config/diglett"), directories.config());
        assertEquals(Path.of("/somewhere/.local/state/diglett"), directories.state());
    }

    @Test
    void withoutHomeTheAccountsHomeDirectory() {
        Path home = Path.of(System.getProperty("user.home"));
        assertEquals(home.resolve(".config/diglett"), Directories.of(Map.of()).config());
        assertEquals(home.resolve(".local/state/diglett"), Directories.of(Map.of("HOME", "")).state());
    }
}
