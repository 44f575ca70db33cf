package io.diglett.server;

import io.diglett.server.auth.AccessDeniedException;
import io.diglett.server.auth.Authenticator;
import io.diglett.server.auth.AuthenticatorProvider;

import java.util.Map;

/**
 * The example from docs/security.md, registered in this module's test resources
 * ({@code META-INF/services/io.diglett.server.auth.AuthenticatorProvider}): tokens of the form {@code team-NAME}
 * may register names that start with {@code NAME-}; the prefix of the token is an option.
 */
public final class ExampleAuthenticatorProvider implements AuthenticatorProvider {

    @Override
    public String name() {
        return "team-prefix";
    }

    @Override
    public Authenticator create(Map<String, String> options) {
        String prefix = options.getOrDefault("prefix", "team-");
        return new Authenticator() {
            @Override
            public String authenticate(String token) throws AccessDeniedException {
                if (!token.startsWith(prefix) || token.length() == prefix.length()) {
                    throw new AccessDeniedException("tokens look like " + prefix + "NAME");
                }
                return token.substring(prefix.length());
            }

            @Override
            public void authorize(String team, String name) throws AccessDeniedException {
                if (!name.startsWith(team + "-")) {
                    throw new AccessDeniedException("team " + team + " may register only " + team + "-*");
                }
            }
        };
    }
}
