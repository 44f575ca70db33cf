package io.diglett.server.auth;

import io.diglett.server.config.Plugins;

import java.util.Map;

/**
 * Makes {@link Authenticator}s; found with {@link java.util.ServiceLoader} (list the class in
 * {@code META-INF/services/io.diglett.server.auth.AuthenticatorProvider}) and chosen with {@code --auth NAME}.
 * Options come from {@code --auth-option KEY=VALUE}. Built in: {@code open} and {@code file}.
 */
public interface AuthenticatorProvider {

    /** The name {@code --auth} selects this provider by. */
    String name();

    /** A new authenticator; throw {@link IllegalArgumentException} with a clear message for bad options. */
    Authenticator create(Map<String, String> options) throws Exception;

    /** The provider called {@code name} on the class path. */
    static AuthenticatorProvider find(String name) {
        return Plugins.find(AuthenticatorProvider.class, name, AuthenticatorProvider::name, "authenticator");
    }

    /** {@code open}: the seed's behaviour, every token may register every name. */
    final class Open implements AuthenticatorProvider {
        @Override
        public String name() {
            return "open";
        }

        @Override
        public Authenticator create(Map<String, String> options) {
            return Authenticator.open();
        }
    }

    /** {@code file}: tokens and their name patterns from a file (option {@code file}), re-read on change. */
    final class File implements AuthenticatorProvider {
        @Override
        public String name() {
            return "file";
        }

        @Override
        public Authenticator create(Map<String, String> options) throws Exception {
            String path = options.get("file");
            if (path == null) {
                throw new IllegalArgumentException("the file authenticator needs --auth-file FILE");
            }
            long interval = Long.parseLong(options.getOrDefault("reload-interval-ms", "1000"));
            return FileAuthenticator.start(java.nio.file.Path.of(path), java.time.Duration.ofMillis(interval));
        }
    }
}
