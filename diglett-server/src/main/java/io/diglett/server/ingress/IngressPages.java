package io.diglett.server.ingress;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/**
 * The ingress's own answers: short HTML pages for an unknown name (404), a tunnel that cannot answer (502,
 * 503), a malformed request (400, 431) and a redirect to HTTPS. Each is a complete HTTP/1.1 response that
 * closes the connection; and 429 for a client over its connection limit.
 */
final class IngressPages {

    private IngressPages() {
    }

    static ByteBuf notFound(String host, String domain) {
        return page(404, "Not Found", "No tunnel here",
                "Nothing is connected to this gateway under <b>" + html(host) + "</b>. Start an agent with "
                        + "<code>diglett -g GATEWAY -n NAME HOST:PORT</code> to serve <i>NAME." + html(domain)
                        + "</i>.");
    }

    static ByteBuf badGateway(String name, String reason) {
        return page(502, "Bad Gateway", "The tunnel '" + html(name) + "' could not answer",
                "The agent is connected, but the request did not reach its service: " + html(reason) + ".");
    }

    static ByteBuf unavailable(String name, String reason) {
        return page(503, "Service Unavailable", "The tunnel '" + html(name) + "' is busy",
                "The request was not passed on: " + html(reason) + ". Try again shortly.");
    }

    /** 429 for a client address that has {@code --max-connections-per-ip} connections open already. */
    static ByteBuf tooManyConnections() {
        return page(429, "Too Many Requests", "Too many connections",
                "Your address has as many connections open to this gateway as it may. Close some, then try again.");
    }

    /** 401 asking for basic auth (the name's visitor policy names its users). */
    static ByteBuf unauthorized(String host, String challenge) {
        String body = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>401 Unauthorized</title></head>\n"
                + "<body><h1>Log in</h1>\n<p>" + html(host) + " asks for "
                + (challenge.startsWith("Basic") ? "a user name and password" : "a bearer token") + ".</p>\n"
                + "</body></html>\n";
        return response(401, "Unauthorized", "WWW-Authenticate: " + challenge.replaceAll("[\\r\\n]", "") + "\r\n",
                body);
    }

    /** A reply of a name's login (a redirect to or from the identity provider, or a page), with its cookies. */
    static ByteBuf reply(io.diglett.server.visitor.Gate.Reply reply) {
        StringBuilder headers = new StringBuilder();
        String detail = reply.message() == null ? "" : html(reply.message());
        if (reply.location() != null) {
            String location = reply.location().replaceAll("[\\x00-\\x1f\\x7f]", "");
            headers.append("Location: ").append(location).append("\r\n");
            detail = "<a href=\"" + html(location) + "\">Continue</a>";
        }
        reply.cookies().forEach(c -> headers.append("Set-Cookie: ").append(c.replaceAll("[\\r\\n]", ""))
                .append("\r\n"));
        String reason = io.netty.handler.codec.http.HttpResponseStatus.valueOf(reply.status()).reasonPhrase();
        String title = reply.location() != null ? "Log in" : reply.status() < 300 ? "Done" : reason;
        String body = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + reply.status() + " "
                + html(title) + "</title></head>\n<body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\">"
                + "\n<h1>" + html(title) + "</h1>\n<p>" + detail + "</p>\n<p style=\"color:#888\">" + reply.status()
                + " " + reason + " &middot; diglett gateway</p>\n</body></html>\n";
        return response(reply.status(), reason, headers.toString(), body);
    }

    /** 403 for a client the name's visitor policy does not admit (its address rules). */
    static ByteBuf forbidden(String host) {
        return page(403, "Forbidden", "Not allowed", "Your address may not reach " + html(host) + ".");
    }

    /** 429 with Retry-After for a client over the name's rate (its visitor policy). */
    static ByteBuf rateLimited(String host, long retryAfterSeconds) {
        String body = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>429 Too Many Requests</title>"
                + "</head>\n<body><h1>Too many requests</h1>\n<p>Your address sends more requests to " + html(host)
                + " than it may. Try again in " + retryAfterSeconds + " s.</p>\n</body></html>\n";
        return response(429, "Too Many Requests", "Retry-After: " + retryAfterSeconds + "\r\n", body);
    }

    static ByteBuf badRequest(int status, String reason, String detail) {
        return page(status, reason, reason, html(detail));
    }

    /** 308 to the same host and path over HTTPS (a name that serves only HTTPS). */
    static ByteBuf toHttps(String location) {
        String body = "<a href=\"" + html(location) + "\">" + html(location) + "</a>\n";
        return response(308, "Permanent Redirect", "Location: " + location.replaceAll("[\\r\\n]", "") + "\r\n",
                body);
    }

    private static ByteBuf page(int status, String reason, String title, String detailHtml) {
        String body = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + status + " " + html(title)
                + "</title></head>\n<body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\">\n<h1>"
                + html(title) + "</h1>\n<p>" + detailHtml + "</p>\n<p style=\"color:#888\">" + status + " "
                + reason + " &middot; diglett gateway</p>\n</body></html>\n";
        return response(status, reason, "", body);
    }

    private static ByteBuf response(int status, String reason, String extraHeaders, String body) {
        byte[] content = body.getBytes(StandardCharsets.UTF_8);
        String head = "HTTP/1.1 " + status + " " + reason + "\r\n"
                + "Content-Type: text/html; charset=utf-8\r\n"
                + "Content-Length: " + content.length + "\r\n"
                + "Cache-Control: no-store\r\n"
                + "Connection: close\r\n"
                + extraHeaders
                + "\r\n";
        return Unpooled.wrappedBuffer(head.getBytes(StandardCharsets.ISO_8859_1), content);
    }

    /** Text made safe for HTML. */
    static String html(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&#39;");
                default -> out.append(c < 0x20 && c != '\t' ? ' ' : c);
            }
        }
        return out.toString();
    }
}
