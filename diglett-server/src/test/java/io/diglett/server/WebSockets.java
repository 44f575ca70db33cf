package io.diglett.server;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;

/** Just enough RFC 6455 for a test: the handshake, and unfragmented text frames (masked from the client). */
final class WebSockets {

    private static final String GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    private static final SecureRandom RANDOM = new SecureRandom();

    private WebSockets() {
    }

    static String newKey() {
        byte[] key = new byte[16];
        RANDOM.nextBytes(key);
        return Base64.getEncoder().encodeToString(key);
    }

    static String accept(String key) {
        try {
            MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            return Base64.getEncoder().encodeToString(sha1.digest((key + GUID).getBytes(StandardCharsets.US_ASCII)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A backend: answers the upgrade with 101, then echoes every text frame. */
    static void echoServer(Socket socket) throws IOException {
        InputStream in = socket.getInputStream();
        String key = null;
        HttpTestClient.line(in);
        for (String line = HttpTestClient.line(in); line != null && !line.isEmpty(); line = HttpTestClient.line(in)) {
            if (line.toLowerCase().startsWith("sec-websocket-key:")) {
                key = line.substring(line.indexOf(':') + 1).trim();
            }
        }
        OutputStream out = socket.getOutputStream();
        out.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: " + accept(key) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
        while (true) {
            String message = readFrame(in);
            if (message == null) {
                return;
            }
            writeFrame(out, message.getBytes(StandardCharsets.UTF_8), null);
        }
    }

    static void sendText(OutputStream out, String text) throws IOException {
        byte[] mask = new byte[4];
        RANDOM.nextBytes(mask);
        writeFrame(out, text.getBytes(StandardCharsets.UTF_8), mask);
    }

    static String readText(InputStream in) throws IOException {
        return readFrame(in);
    }

    private static void writeFrame(OutputStream out, byte[] payload, byte[] mask) throws IOException {
        ByteArrayOutputStream frame = new ByteArrayOutputStream();
        frame.write(0x81); // FIN, text
        int maskBit = mask == null ? 0 : 0x80;
        if (payload.length < 126) {
            frame.write(maskBit | payload.length);
        } else if (payload.length < 65536) {
            frame.write(maskBit | 126);
            frame.write(payload.length >>> 8);
            frame.write(payload.length);
        } else {
            frame.write(maskBit | 127);
            for (int shift = 56; shift >= 0; shift -= 8) {
                frame.write((int) ((long) payload.length >>> shift));
            }
        }
        if (mask != null) {
            frame.write(mask);
            payload = payload.clone();
            for (int i = 0; i < payload.length; i++) {
                payload[i] ^= mask[i % 4];
            }
        }
        frame.write(payload);
        out.write(frame.toByteArray());
        out.flush();
    }

    /** One text frame's payload, or null at end of stream. */
    private static String readFrame(InputStream in) throws IOException {
        int first = in.read();
        if (first < 0) {
            return null;
        }
        int second = in.read();
        long length = second & 0x7f;
        if (length == 126) {
            length = ((in.read() & 0xff) << 8) | (in.read() & 0xff);
        } else if (length == 127) {
            length = 0;
            for (int i = 0; i < 8; i++) {
                length = (length << 8) | (in.read() & 0xff);
            }
        }
        byte[] mask = (second & 0x80) != 0 ? TestServers.readExactly(in, 4) : null;
        byte[] payload = TestServers.readExactly(in, (int) length);
        if (mask != null) {
            for (int i = 0; i < payload.length; i++) {
                payload[i] ^= mask[i % 4];
            }
        }
        return new String(payload, StandardCharsets.UTF_8);
    }
}
