package io.diglett.server;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.math.BigInteger;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A real ACME server for end-to-end tests of the gateway's ACME client: Debian's {@code pebble} (2.4.0, which
 * bin/test installs) and its {@code pebble-challtestsrv} as the DNS server pebble's validator asks, both on
 * loopback ports this test picked. challtestsrv answers 127.0.0.1 to every A query and nothing to AAAA queries
 * (so no validation goes to ::1), and serves the TXT records {@link #setTxt} puts there (DNS-01). Pebble's
 * validator connects to the ports given to {@link #start} for TLS-ALPN-01 and HTTP-01: the gateway's.
 *
 * <p>Pebble runs without its test-friendly randomness: no validation delays ({@code PEBBLE_VA_NOSLEEP}), no
 * rejected nonces ({@code PEBBLE_WFE_NONCEREJECT=0}), no reused authorizations ({@code PEBBLE_AUTHZREUSE=0}).
 * It generates a new issuing root on every start ({@link #issuingRoot}). Its own HTTPS listener (directory and
 * management) presents a self-signed certificate written by {@link #prepare}: {@link #listenerCertificate}.
 */
public final class Pebble implements AutoCloseable {

    private static final HttpClient PLAIN = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private final Path dir;
    private final int acmePort;
    private final int managementPort;
    private final int dnsPort;
    private final int challtestsrvPort;
    private final Path listenerCertificate;
    private final Path listenerKey;
    private final Path pebbleLog;
    private final Path challtestsrvLog;
    private final HttpClient https;
    private Process challtestsrv;
    private Process pebble;
    private Path dnsHookLog;

    private Pebble(Path dir) throws Exception {
        this.dir = dir;
        List<Integer> taken = new ArrayList<>();
        this.acmePort = freeTcpPort(taken);
        this.managementPort = freeTcpPort(taken);
        this.dnsPort = freeTcpAndUdpPort(taken);
        this.challtestsrvPort = freeTcpPort(taken);
        this.listenerCertificate = dir.resolve("pebble-listener.pem");
        this.listenerKey = dir.resolve("pebble-listener-key.pem");
        this.pebbleLog = dir.resolve("pebble.log");
        this.challtestsrvLog = dir.resolve("pebble-challtestsrv.log");
        writeListenerCertificate(listenerCertificate, listenerKey);
        this.https = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).sslContext(trustingListener())
                .build();
    }

    /**
     * Allocates free loopback ports for pebble's ACME and management listeners and for challtestsrv's DNS (UDP
     * and TCP) and management listeners; writes pebble's own HTTPS certificate (P-256, self-signed, for IP
     * 127.0.0.1 and DNS localhost) into {@code dir}; starts challtestsrv (A answers 127.0.0.1, no AAAA answers,
     * only its DNS server on) and waits until it listens. Pebble itself is not started yet: {@link #start}.
     */
    public static Pebble prepare(Path dir) throws Exception {
        Files.createDirectories(dir);
        Pebble pebble = new Pebble(dir);
        try {
            pebble.startChalltestsrv();
        } catch (Exception | Error e) {
            pebble.close();
            throw e;
        }
        return pebble;
    }

    private void startChalltestsrv() throws Exception {
        List<String> command = List.of(onPath("pebble-challtestsrv"),
                "-dns01", "127.0.0.1:" + dnsPort, "-http01", "", "-https01", "", "-tlsalpn01", "",
                "-management", "127.0.0.1:" + challtestsrvPort, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "");
        challtestsrv = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(challtestsrvLog.toFile())).start();
        await("pebble-challtestsrv", challtestsrv, () -> listens(challtestsrvPort) && listens(dnsPort));
    }

    /**
     * Starts pebble, its validator connecting to {@code tlsPort} for TLS-ALPN-01 and to {@code httpPort} for
     * HTTP-01 (0: a free port where nothing listens), resolving names through challtestsrv, and waits until its
     * directory and management listener answer. {@code certValiditySeconds} > 0: issued certificates are valid
     * that long (pebble's {@code certificateValidityPeriod}; otherwise its default, 5 years): checked by hand, a
     * certificate issued with 300 had notBefore at issuance and notAfter 299 s later. Each TLS-ALPN-01 or HTTP-01
     * validation connects three times (pebble 2.4 checks from several simulated perspectives).
     */
    public void start(int tlsPort, int httpPort, long certValiditySeconds) throws Exception {
        if (pebble != null) {
            throw new IllegalStateException("pebble already started");
        }
        List<Integer> taken = new ArrayList<>(List.of(acmePort, managementPort, dnsPort, challtestsrvPort));
        int tls = tlsPort > 0 ? tlsPort : freeTcpPort(taken);
        int http = httpPort > 0 ? httpPort : freeTcpPort(taken);
        String config = "{\"pebble\": {"
                + "\"listenAddress\": \"127.0.0.1:" + acmePort + "\", "
                + "\"managementListenAddress\": \"127.0.0.1:" + managementPort + "\", "
                + "\"certificate\": " + json(listenerCertificate.toString()) + ", "
                + "\"privateKey\": " + json(listenerKey.toString()) + ", "
                + "\"httpPort\": " + http + ", \"tlsPort\": " + tls + ", "
                + "\"ocspResponderURL\": \"\", \"externalAccountBindingRequired\": false"
                + (certValiditySeconds > 0 ? ", \"certificateValidityPeriod\": " + certValiditySeconds : "")
                + "}}\n";
        Path configFile = dir.resolve("pebble.json");
        Files.writeString(configFile, config, StandardCharsets.UTF_8);
        ProcessBuilder builder = new ProcessBuilder(onPath("pebble"), "-config", configFile.toString(),
                "-dnsserver", "127.0.0.1:" + dnsPort).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(pebbleLog.toFile()));
        builder.environment().put("PEBBLE_VA_NOSLEEP", "1");
        builder.environment().put("PEBBLE_WFE_NONCEREJECT", "0");
        builder.environment().put("PEBBLE_AUTHZREUSE", "0");
        pebble = builder.start();
        await("pebble", pebble, () -> answers(URI.create(directory())) && answers(management("/roots/0")));
        if (certValiditySeconds > 0 && !read(pebbleLog).contains("validity period of " + certValiditySeconds + " ")) {
            throw new AssertionError("pebble did not take certificateValidityPeriod " + certValiditySeconds
                    + ":\n" + log());
        }
    }

    /** The ACME directory URL, {@code https://127.0.0.1:PORT/dir} (known from {@link #prepare} on). */
    public String directory() {
        return "https://127.0.0.1:" + acmePort + "/dir";
    }

    /** PEM of pebble's own HTTPS certificate (self-signed): what an ACME client must trust to reach it. */
    public Path listenerCertificate() {
        return listenerCertificate;
    }

    /** An SSL context trusting {@link #listenerCertificate} alone. */
    public SSLContext trustingListener() throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (var in = Files.newInputStream(listenerCertificate)) {
            trust.setCertificateEntry("pebble", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(trust);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, factory.getTrustManagers(), null);
        return context;
    }

    /**
     * Fetches the root that issues this run's certificates (management {@code GET /roots/0}) into a PEM file and
     * returns it. Pebble generates a new one on every start, so only after {@link #start}.
     */
    public Path issuingRoot() throws Exception {
        return fetchPem("/roots/0", dir.resolve("pebble-issuing-root.pem"));
    }

    /** Fetches the intermediate that signs this run's certificates ({@code GET /intermediates/0}) into a PEM file. */
    public Path issuingIntermediate() throws Exception {
        return fetchPem("/intermediates/0", dir.resolve("pebble-issuing-intermediate.pem"));
    }

    private Path fetchPem(String path, Path file) throws Exception {
        if (pebble == null) {
            throw new IllegalStateException("pebble is not started");
        }
        HttpResponse<String> response = https.send(HttpRequest.newBuilder(management(path))
                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200 || !response.body().contains("-----BEGIN CERTIFICATE-----")) {
            throw new IOException("GET " + path + " on pebble's management port: " + response.statusCode() + " "
                    + response.body());
        }
        // check it parses
        CertificateFactory.getInstance("X.509").generateCertificates(
                new ByteArrayInputStream(response.body().getBytes(StandardCharsets.US_ASCII)));
        Files.writeString(file, response.body(), StandardCharsets.US_ASCII);
        return file;
    }

    /** Serves TXT {@code value} for {@code fqdnWithTrailingDot} (as well as values set before), like a DNS-01 hook. */
    public void setTxt(String fqdnWithTrailingDot, String value) throws Exception {
        manage("/set-txt", "{\"host\":" + json(fqdn(fqdnWithTrailingDot)) + ",\"value\":" + json(value) + "}");
    }

    /** Removes every TXT value of {@code fqdnWithTrailingDot}. */
    public void clearTxt(String fqdnWithTrailingDot) throws Exception {
        manage("/clear-txt", "{\"host\":" + json(fqdn(fqdnWithTrailingDot)) + "}");
    }

    /** Answers A queries for {@code host} with {@code addresses} instead of the default 127.0.0.1. */
    public void addA(String host, String... addresses) throws Exception {
        StringBuilder list = new StringBuilder();
        for (String address : addresses) {
            list.append(list.length() == 0 ? "" : ",").append(json(address));
        }
        manage("/add-a", "{\"host\":" + json(fqdn(host)) + ",\"addresses\":[" + list + "]}");
    }

    /** challtestsrv's management URL, {@code http://127.0.0.1:PORT}. */
    public String challtestsrvManagement() {
        return "http://127.0.0.1:" + challtestsrvPort;
    }

    /** challtestsrv's DNS server (UDP and TCP): what pebble's validator asks. */
    public InetSocketAddress dnsServer() {
        return new InetSocketAddress("127.0.0.1", dnsPort);
    }

    private void manage(String path, String body) throws Exception {
        HttpResponse<String> response = PLAIN.send(HttpRequest.newBuilder(URI.create(challtestsrvManagement() + path))
                .timeout(Duration.ofSeconds(5)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IOException("POST " + path + " " + body + " to pebble-challtestsrv: " + response.statusCode()
                    + " " + response.body());
        }
    }

    /**
     * Writes {@code dir/dns-hook.sh}, an executable bash script for the gateway's DNS-01 hook, and returns it. It
     * reads {@code ACTION} (present or cleanup), {@code TXT_NAME} (a trailing dot is added when missing) and
     * {@code TXT_VALUE}, needs only curl on {@code PATH=/usr/bin:/bin}, and POSTs {@code /set-txt} or
     * {@code /clear-txt} to challtestsrv; it exits non-zero on failure. Each call first appends a line
     * {@code "ACTION TXT_NAME"} (TXT_NAME as it was given) to {@link #dnsHookLog()}, {@code dir/dns-hook.log}.
     */
    public Path dnsHookScript(Path dir) throws Exception {
        Files.createDirectories(dir);
        Path script = dir.resolve("dns-hook.sh");
        Path log = dir.resolve("dns-hook.log");
        String management = challtestsrvManagement();
        String text = "#!/bin/bash\n"
                + "# DNS-01 hook for tests: puts the challenge's TXT record into pebble-challtestsrv.\n"
                + "set -euo pipefail\n"
                + "echo \"${ACTION:-} ${TXT_NAME:-}\" >> " + shellQuote(log.toString()) + "\n"
                + "name=\"${TXT_NAME:?TXT_NAME is not set}\"\n"
                + "case \"$name\" in *.) ;; *) name=\"$name.\" ;; esac\n"
                + "case \"${ACTION:-}\" in\n"
                + "  present)\n"
                + "    curl -fsS --max-time 10 -X POST -d \"{\\\"host\\\":\\\"$name\\\",\\\"value\\\":\\\""
                + "${TXT_VALUE:?TXT_VALUE is not set}\\\"}\" " + shellQuote(management + "/set-txt") + " ;;\n"
                + "  cleanup)\n"
                + "    curl -fsS --max-time 10 -X POST -d \"{\\\"host\\\":\\\"$name\\\"}\" "
                + shellQuote(management + "/clear-txt") + " ;;\n"
                + "  *)\n"
                + "    echo \"dns-hook: unknown ACTION '${ACTION:-}'\" >&2\n"
                + "    exit 2 ;;\n"
                + "esac\n";
        Files.writeString(script, text, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        dnsHookLog = log;
        return script;
    }

    /** The log of the last {@link #dnsHookScript}: one line {@code "ACTION TXT_NAME"} per call. */
    public Path dnsHookLog() {
        if (dnsHookLog == null) {
            throw new IllegalStateException("no dnsHookScript written");
        }
        return dnsHookLog;
    }

    /** Both processes' output so far, for assertion messages. */
    public String log() {
        return "--- pebble ---\n" + read(pebbleLog) + "--- pebble-challtestsrv ---\n" + read(challtestsrvLog);
    }

    /** Stops both (SIGTERM, then SIGKILL after 5 s); never throws. */
    @Override
    public void close() {
        stop(pebble);
        stop(challtestsrv);
    }

    private static void stop(Process process) {
        if (process == null || !process.isAlive()) {
            return;
        }
        try {
            process.destroy();
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private URI management(String path) {
        return URI.create("https://127.0.0.1:" + managementPort + path);
    }

    private boolean answers(URI uri) {
        try {
            return https.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
        } catch (IOException notYet) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static boolean listens(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 1000);
            return true;
        } catch (IOException notYet) {
            return false;
        }
    }

    /** Polls {@code ready} until it holds; fails with the logs when the process exits or 20 s pass. */
    private void await(String name, Process process, BooleanSupplier ready) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!ready.getAsBoolean()) {
            if (!process.isAlive()) {
                throw new AssertionError(name + " exited with " + process.exitValue() + ":\n" + log());
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(name + " was not ready within 20 s:\n" + log());
            }
            Thread.sleep(50);
        }
    }

    private static void writeListenerCertificate(Path certificate, Path key) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair keys = generator.generateKeyPair();
        X500Name name = new X500Name("CN=pebble listener");
        Instant now = Instant.now();
        JcaX509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(name,
                new BigInteger(64, new SecureRandom()), Date.from(now.minus(Duration.ofHours(1))),
                Date.from(now.plus(Duration.ofDays(30))), name, keys.getPublic());
        // like `openssl req -x509`: its own CA, so every TLS stack takes it as a trust anchor
        builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        builder.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                new GeneralName(GeneralName.iPAddress, "127.0.0.1"), new GeneralName(GeneralName.dNSName,
                        "localhost")}));
        X509Certificate cert = new JcaX509CertificateConverter().getCertificate(
                builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate())));
        Files.writeString(certificate, pem("CERTIFICATE", cert.getEncoded()), StandardCharsets.US_ASCII);
        Files.writeString(key, pem("PRIVATE KEY", keys.getPrivate().getEncoded()), StandardCharsets.US_ASCII);
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n"
                + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    /** A loopback port free for TCP, not in {@code taken} (which it joins). */
    private static int freeTcpPort(List<Integer> taken) throws IOException {
        while (true) {
            try (ServerSocket socket = new ServerSocket()) {
                socket.bind(new InetSocketAddress("127.0.0.1", 0));
                int port = socket.getLocalPort();
                if (!taken.contains(port)) {
                    taken.add(port);
                    return port;
                }
            }
        }
    }

    /** A loopback port free for both TCP and UDP (a DNS server takes both). */
    private static int freeTcpAndUdpPort(List<Integer> taken) throws IOException {
        for (int attempt = 0; ; attempt++) {
            try (ServerSocket tcp = new ServerSocket()) {
                tcp.bind(new InetSocketAddress("127.0.0.1", 0));
                int port = tcp.getLocalPort();
                if (taken.contains(port)) {
                    continue;
                }
                try (DatagramSocket udp = new DatagramSocket(new InetSocketAddress("127.0.0.1", port))) {
                    taken.add(port);
                    return udp.getLocalPort();
                }
            } catch (IOException udpTaken) {
                if (attempt > 20) {
                    throw udpTaken;
                }
            }
        }
    }

    private static String fqdn(String name) {
        return name.endsWith(".") ? name : name + ".";
    }

    private static String json(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }

    private static String shellQuote(String text) {
        return "'" + text.replace("'", "'\\''") + "'";
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(" + file + " unreadable: " + e + ")\n";
        }
    }

    private static String onPath(String name) {
        for (String entry : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path candidate = Path.of(entry, name);
            if (Files.isExecutable(candidate)) {
                return candidate.toString();
            }
        }
        throw new AssertionError(name + " is not installed (not on PATH); bin/test installs Debian's pebble, or run: "
                + "apt-get install pebble");
    }
}
