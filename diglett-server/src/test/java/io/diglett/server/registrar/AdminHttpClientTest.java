package io.diglett.server.registrar;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.server.registrar.AdminHttpClient.Response;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpMethod;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** The admin API client's HTTP handling (Netty's codec and what it makes of answers), without sockets. */
class AdminHttpClientTest {

    /** The pipeline of one exchange, and what it answered. */
    private static final class Exchange {
        final CompletableFuture<Response> answer = new CompletableFuture<>();
        final EmbeddedChannel channel = new EmbeddedChannel();

        Exchange() {
            AdminHttpClient.initialize(channel.pipeline(), answer);
        }

        /** The request as sent on the wire. */
        String send(String host, HttpMethod method, String path, String body) {
            channel.writeOutbound(AdminHttpClient.request(ByteBufAllocator.DEFAULT, host, method, path, body));
            StringBuilder wire = new StringBuilder();
            for (ByteBuf sent; (sent = channel.readOutbound()) != null; ) {
                wire.append(sent.toString(StandardCharsets.UTF_8));
                sent.release();
            }
            return wire.toString();
        }

        Exchange receive(String text) {
            channel.writeInbound(Unpooled.copiedBuffer(text, StandardCharsets.ISO_8859_1));
            return this;
        }

        /** Why there is no answer. */
        String failure() {
            channel.finishAndReleaseAll();
            Throwable cause = answer.handle((r, e) -> e).join();
            assertInstanceOf(IOException.class, cause instanceof CompletionException ? cause.getCause() : cause);
            return cause.getMessage();
        }

        Response response() {
            Response response = answer.getNow(null);
            channel.finishAndReleaseAll();
            return response;
        }
    }

    @Test
    void requestsAreJsonWithTheHostGivenAndCloseTheConnection() {
        assertEquals("PUT /config/apps/http/servers/srv0/routes/0 HTTP/1.1\r\nhost: \r\naccept: application/json\r\n"
                + "connection: close\r\ncontent-type: application/json\r\ncontent-length: 8\r\n\r\n{\"é\":1}",
                new Exchange().send("", HttpMethod.PUT, "/config/apps/http/servers/srv0/routes/0", "{\"é\":1}"));
        assertEquals("DELETE /id/diglett-x HTTP/1.1\r\nhost: localhost:2019\r\naccept: application/json\r\n"
                + "connection: close\r\ncontent-length: 0\r\n\r\n",
                new Exchange().send("localhost:2019", HttpMethod.DELETE, "/id/diglett-x", null));
        assertEquals("GET /config/ HTTP/1.1\r\nhost: \r\naccept: application/json\r\nconnection: close\r\n\r\n",
                new Exchange().send("", HttpMethod.GET, "/config/", null));
    }

    @Test
    void chunkedSizedAndReadToTheEndBodiesAreRead() {
        Exchange chunked = new Exchange();
        chunked.send("", HttpMethod.GET, "/", null);
        chunked.receive("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: ETag\r\n\r\n5\r\nhello\r\n")
                .receive("7;ext=1\r\n, world\r\n0\r\nEtag: \"x\"\r\n\r\n");
        assertEquals(new Response(200, "hello, world"), chunked.response());
        assertFalse(chunked.channel.isOpen(), "one request per connection");

        Exchange sized = new Exchange();
        sized.send("", HttpMethod.GET, "/", null);
        assertEquals(new Response(404, "no"), sized.receive("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")
                .response());

        Exchange toTheEnd = new Exchange();
        toTheEnd.send("", HttpMethod.GET, "/", null);
        toTheEnd.receive("HTTP/1.0 200 OK\r\n\r\nuntil ").receive("closed");
        toTheEnd.channel.close();
        assertEquals(new Response(200, "until closed"), toTheEnd.response());
    }

    @Test
    void incompleteOversizedAndInvalidAnswersAreErrorsWithTheirTextEscaped() {
        Exchange truncated = new Exchange();
        truncated.send("", HttpMethod.GET, "/", null);
        truncated.receive("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").channel.close();
        assertEquals("connection closed before a complete answer", truncated.failure());

        Exchange nothing = new Exchange();
        nothing.send("", HttpMethod.GET, "/", null);
        nothing.channel.close();
        assertEquals("connection closed before a complete answer", nothing.failure());

        Exchange oversized = new Exchange();
        oversized.send("", HttpMethod.GET, "/", null);
        oversized.receive("HTTP/1.1 200 OK\r\nContent-Length: " + (AdminHttpClient.MAX_BODY + 1) + "\r\n\r\n");
        assertEquals("answer larger than " + AdminHttpClient.MAX_BODY + " bytes", oversized.failure());
        assertFalse(oversized.channel.isOpen());

        Exchange chunkedTooLong = new Exchange();
        chunkedTooLong.send("", HttpMethod.GET, "/", null);
        chunkedTooLong.receive("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        String chunk = "x".repeat(64 * 1024);
        for (int sent = 0; sent <= AdminHttpClient.MAX_BODY && chunkedTooLong.channel.isOpen(); sent += chunk.length()) {
            chunkedTooLong.receive(Integer.toHexString(chunk.length()) + "\r\n" + chunk + "\r\n");
        }
        assertEquals("answer larger than " + AdminHttpClient.MAX_BODY + " bytes", chunkedTooLong.failure());

        Exchange garbage = new Exchange();
        garbage.send("", HttpMethod.GET, "/", null);
        garbage.receive("HTTP/1.1 2\u001b[31mX OK\r\n\r\n");
        String failure = garbage.failure();
        assertTrue(failure.startsWith("no valid HTTP answer ("), failure);
        assertFalse(failure.chars().anyMatch(c -> c < 0x20 || c >= 0x7f), failure);
    }

    @Test
    void anExcerptIsOneEscapedBoundedLine() {
        assertEquals("{\"error\":\"bad \\u001b[2J \\u00e9\"}",
                new Response(500, " {\"error\":\"bad\n\u001b[2J\t\u00e9\"}\n").excerpt());
        assertEquals("(no body)", new Response(500, "\r\n").excerpt());
        String excerpt = new Response(500, "y".repeat(10_000)).excerpt();
        assertEquals(AdminHttpClient.MAX_EXCERPT + 3, excerpt.length());
        assertTrue(excerpt.endsWith("y..."));
    }
}
