package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Pebble} itself: pebble answers its directory over HTTPS trusting {@link Pebble#listenerCertificate},
 * hands out its issuing root, and challtestsrv serves what the DNS-01 hook script puts there (and no AAAA).
 */
class PebbleSmokeTests {

    @TempDir
    Path temp;

    @Test
    void pebbleAnswersAndTheDnsHookPutsTheTxtRecordInPlace() throws Exception {
        try (Pebble pebble = Pebble.prepare(temp.resolve("pebble"))) {
            pebble.start(0, 0, 3600);

            HttpClient client = HttpClient.newBuilder().sslContext(pebble.trustingListener())
                    .connectTimeout(Duration.ofSeconds(2)).build();
            HttpResponse<String> directory = client.send(HttpRequest.newBuilder(URI.create(pebble.directory()))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, directory.statusCode(), pebble.log());
            assertTrue(directory.body().contains("\"newOrder\""), directory.body());

            X509Certificate root;
            try (InputStream in = Files.newInputStream(pebble.issuingRoot())) {
                root = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
            }
            assertTrue(root.getSubjectX500Principal().getName().contains("Pebble Root CA"), root.toString());
            assertTrue(pebble.log().contains("validity period of 3600 seconds"), pebble.log());

            Path hook = pebble.dnsHookScript(temp.resolve("hook"));
            String name = "_acme-challenge.gw.test";
            assertEquals(0, runHook(hook, "present", name, "token-value-1"), pebble.log());
            assertEquals(List.of("token-value-1"), txt(pebble.dnsServer(), name));
            assertEquals(0, runHook(hook, "cleanup", name + ".", "token-value-1"), pebble.log());
            assertEquals(List.of(), txt(pebble.dnsServer(), name));
            assertEquals(List.of("present " + name, "cleanup " + name + "."), Files.readAllLines(pebble.dnsHookLog()));

            pebble.setTxt(name + ".", "direct");
            assertEquals(List.of("direct"), txt(pebble.dnsServer(), name));
            pebble.clearTxt(name + ".");
            assertEquals(List.of(), txt(pebble.dnsServer(), name));

            // every A query gets 127.0.0.1 and no AAAA query an answer: no validation goes to ::1
            assertEquals(1, answerCount(query(pebble.dnsServer(), "gw.test", 1)));
            assertEquals(0, answerCount(query(pebble.dnsServer(), "gw.test", 28)));
        }
    }

    private static int runHook(Path hook, String action, String name, String value) throws Exception {
        ProcessBuilder builder = new ProcessBuilder(hook.toString()).redirectErrorStream(true);
        builder.environment().clear();
        builder.environment().putAll(Map.of("ACTION", action, "DOMAIN", "gw.test", "TXT_NAME", name,
                "TXT_VALUE", value, "PATH", "/usr/bin:/bin"));
        Process process = builder.start();
        process.getInputStream().transferTo(new ByteArrayOutputStream());
        assertTrue(process.waitFor(20, TimeUnit.SECONDS), "hook did not finish");
        return process.exitValue();
    }

    /** The TXT strings served for {@code name}. */
    private static List<String> txt(InetSocketAddress server, String name) throws Exception {
        ByteBuffer reply = query(server, name, 16);
        List<String> values = new ArrayList<>();
        int answers = answerCount(reply);
        reply.position(12);
        skipName(reply);
        reply.position(reply.position() + 4); // question type and class
        for (int i = 0; i < answers; i++) {
            skipName(reply);
            int type = reply.getShort() & 0xffff;
            reply.position(reply.position() + 6); // class, TTL
            int length = reply.getShort() & 0xffff;
            int end = reply.position() + length;
            if (type == 16) {
                StringBuilder value = new StringBuilder();
                while (reply.position() < end) {
                    byte[] chunk = new byte[reply.get() & 0xff];
                    reply.get(chunk);
                    value.append(new String(chunk, StandardCharsets.US_ASCII));
                }
                values.add(value.toString());
            }
            reply.position(end);
        }
        return values;
    }

    private static int answerCount(ByteBuffer reply) {
        return reply.getShort(6) & 0xffff;
    }

    /** One DNS query over UDP; the reply. */
    private static ByteBuffer query(InetSocketAddress server, String name, int type) throws Exception {
        ByteArrayOutputStream query = new ByteArrayOutputStream();
        query.writeBytes(new byte[] {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}); // id, RD, one question
        for (String label : name.replaceAll("\\.$", "").split("\\.")) {
            query.write(label.length());
            query.writeBytes(label.getBytes(StandardCharsets.US_ASCII));
        }
        query.writeBytes(new byte[] {0, 0, (byte) type, 0, 1});
        try (DatagramSocket socket = new DatagramSocket()) {
            socket.setSoTimeout(5000);
            byte[] bytes = query.toByteArray();
            socket.send(new DatagramPacket(bytes, bytes.length, server));
            DatagramPacket reply = new DatagramPacket(new byte[4096], 4096);
            socket.receive(reply);
            ByteBuffer buffer = ByteBuffer.wrap(reply.getData(), 0, reply.getLength());
            assertEquals(0, buffer.get(3) & 0x0f, "DNS rcode");
            return buffer;
        }
    }

    private static void skipName(ByteBuffer buffer) {
        while (true) {
            int length = buffer.get() & 0xff;
            if (length == 0) {
                return;
            }
            if ((length & 0xc0) == 0xc0) { // a compression pointer ends the name
                buffer.get();
                return;
            }
            buffer.position(buffer.position() + length);
        }
    }
}
