package io.diglett.server.visitor;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/** What a name's login makes of a request ({@link VisitorLogin#gate}). */
public sealed interface Gate {

    /** Passes as {@code who}. */
    record Pass(Identity who) implements Gate {
    }

    /**
     * Credentials being checked off the event loop: passes as the identity it completes with; {@code null}: 401 with
     * {@code challenge}.
     */
    record Check(CompletableFuture<Identity> check, String challenge) implements Gate {
    }

    /** Only over HTTPS (a login whose cookie must be Secure): the client is sent there. */
    record UseHttps() implements Gate {
    }

    /** The gateway answers the request itself (the login's own pages and redirects). */
    record Answer(CompletableFuture<Reply> reply) implements Gate {
    }

    /** 401 with {@code challenge} as WWW-Authenticate. */
    record Refuse(String challenge) implements Gate {
    }

    /**
     * A response of the gateway's: a redirect to {@code location} (status 302 or 303) or a page with {@code message}
     * (any other status), setting {@code cookies}.
     */
    record Reply(int status, String location, List<String> cookies, String message) {
        public static Reply redirect(String location, List<String> cookies) {
            return new Reply(302, location, cookies, null);
        }

        public static Reply page(int status, String message) {
            return new Reply(status, null, List.of(), message);
        }
    }
}
