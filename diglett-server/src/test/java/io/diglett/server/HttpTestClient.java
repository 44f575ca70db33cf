package io.diglett.server;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * A small HTTP/1.1 client for the ingress tests: it writes exactly the bytes a test gives (any Host header,
 * several requests on one connection) and reads responses by Content-Length, chunked coding or end of stream.
 */
final class HttpTestClient {

    private HttpTestClient() {
    }

    /** A response: status code, headers (lower-case names) and body. */
    record Response(int status, Map<String, String> headers, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    /** A plain connection to the ingress on 127.0.0.1. */
    static Socket connect(int port) throws IOException {
        Socket socket = TestServers.connect(port);
        socket.setSoTimeout(15_000);
        return socket;
    }

    /** A TLS connection to 127.0.0.1:{@code port} asking for server name {@code sni}, trusting any certificate. */
    static SSLSocket connectTls(int port, String sni) throws Exception {
        return connectTls(TestServers.connect(port), port, sni);
    }

    /** TLS over {@code plain}, already connected to {@code port} (and maybe written to), as {@link #connectTls}. */
    static SSLSocket connectTls(Socket plain, int port, String sni) throws Exception {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, new TrustManager[] {TRUST_ALL}, new SecureRandom());
        SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket(plain, sni, port, true);
        SSLParameters parameters = socket.getSSLParameters();
        parameters.setServerNames(java.util.List.of(new SNIHostName(sni)));
        socket.setSSLParameters(parameters);
        socket.setSoTimeout(15_000);
        socket.startHandshake();
        return socket;
    }

    static final X509TrustManager TRUST_ALL = new X509TrustManager() {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    };

    /** {@code GET path} for {@code host}, keep-alive. */
    static String get(String host, String path) {
        return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: diglett-test\r\n\r\n";
    }

    static Response exchange(Socket socket, String request) throws IOException {
        socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
        socket.getOutputStream().flush();
        return read(socket.getInputStream());
    }

    /** Reads one response; EOFException if the connection ends before a status line. */
    static Response read(InputStream in) throws IOException {
        String status = line(in);
        if (status == null) {
            throw new EOFException("connection closed before a response");
        }
        String[] parts = status.split(" ", 3);
        int code = Integer.parseInt(parts[1]);
        Map<String, String> headers = new LinkedHashMap<>();
        for (String line = line(in); line != null && !line.isEmpty(); line = line(in)) {
            int colon = line.indexOf(':');
            headers.merge(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim(),
                    (a, b) -> a + ", " + b);
        }
        if (code == 101 || code == 204 || code == 304) {
            return new Response(code, headers, new byte[0]);
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        if (headers.containsKey("content-length")) {
            body.write(TestServers.readExactly(in, Integer.parseInt(headers.get("content-length"))));
        } else if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            for (int size = Integer.parseInt(line(in).trim(), 16); size > 0;
                 size = Integer.parseInt(line(in).trim(), 16)) {
                body.write(TestServers.readExactly(in, size));
                line(in);
            }
            while (!line(in).isEmpty()) {
                // trailers
            }
        } else {
            body.write(in.readAllBytes());
        }
        return new Response(code, headers, body.toByteArray());
    }

    /** One CRLF-terminated line, without the CRLF; {@code null} at end of stream before any byte. */
    static String line(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0) {
            if (c == '\n') {
                byte[] bytes = line.toByteArray();
                int n = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
                return new String(bytes, 0, n, StandardCharsets.ISO_8859_1);
            }
            line.write(c);
        }
        if (line.size() == 0) {
            return null;
        }
        throw new EOFException("connection closed in the middle of a line");
    }
}
