package io.diglett.common;

import java.nio.file.Path;
import java.util.Map;

/**
 * Where the programs keep their files, by the XDG base directory rules: configuration (the agent's
 * {@code known_gateways}) in {@code $XDG_CONFIG_HOME/diglett}, else {@code $HOME/.config/diglett}; state (the
 * gateway's generated keys, the agent's log file) in {@code $XDG_STATE_HOME/diglett}, else
 * {@code $HOME/.local/state/diglett}. The variables come from the environment given, so {@code HOME=/somewhere
 * diglett ...} moves both; Java's {@code user.home} (the account's home directory) stands in only for a
 * {@code HOME} that is unset or blank.
 *
 * @param config the configuration directory
 * @param state  the state directory
 */
public record Directories(Path config, Path state) {

    /** The programs' directories in environment {@code env}. */
    public static Directories of(Map<String, String> env) {
        return new Directories(base(env, "XDG_CONFIG_HOME", ".config").resolve("diglett"),
                base(env, "XDG_STATE_HOME", ".local", "state").resolve("diglett"));
    }

    /** {@code $variable}, else {@code $HOME/fallback}. */
    private static Path base(Map<String, String> env, String variable, String... fallback) {
        String xdg = env.get(variable);
        if (xdg != null && !xdg.isBlank()) {
            return Path.of(xdg);
        }
        String home = env.get("HOME");
        return Path.of(home != null && !home.isBlank() ? home : System.getProperty("user.home"), fallback);
    }
}
