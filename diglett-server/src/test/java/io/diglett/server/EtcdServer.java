package io.diglett.server;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real etcd (Debian's {@code etcd-server}, which bin/test installs) for a test: one member on loopback, on ports
 * this test picked, with its data in a temporary directory on {@code /dev/shm} when there is one (no fsync stalls).
 * It can be stopped, frozen and started again on the same ports and data.
 */
final class EtcdServer implements AutoCloseable {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private final String name;
    private final String host;
    private final int clientPort;
    private final int peerPort;
    private final Path dataDir;
    private final Path log;
    /** {@code --initial-cluster}: every member's name and peer URL. */
    private String initialCluster;
    private Process process;

    private EtcdServer(String name, String host, int clientPort, int peerPort, Path dataDir) {
        this.name = name;
        this.host = host;
        this.clientPort = clientPort;
        this.peerPort = peerPort;
        this.dataDir = dataDir;
        this.log = dataDir.resolveSibling(dataDir.getFileName() + ".log");
        this.initialCluster = name + "=" + peerUrl();
    }

    private String peerUrl() {
        return "http://" + host + ":" + peerPort;
    }

    private static Path tempDir() throws IOException {
        Path shm = Path.of("/dev/shm");
        Path base = Files.isDirectory(shm) && Files.isWritable(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir"));
        return Files.createTempDirectory(base, "diglett-etcd");
    }

    /** Starts a member on {@code host} (a loopback address) and waits until it is healthy. */
    static EtcdServer start(String host) throws Exception {
        EtcdServer etcd = new EtcdServer("n1", host, freePort(host), freePort(host), tempDir().resolve("data"));
        etcd.start();
        return etcd;
    }

    /**
     * Starts a cluster of {@code hosts.size()} members, one on each loopback address of {@code hosts}, and waits
     * until each is healthy.
     */
    static List<EtcdServer> cluster(List<String> hosts) throws Exception {
        List<EtcdServer> members = new ArrayList<>();
        for (int i = 0; i < hosts.size(); i++) {
            String host = hosts.get(i);
            members.add(new EtcdServer("n" + (i + 1), host, freePort(host), freePort(host),
                    tempDir().resolve("data")));
        }
        String initial = String.join(",", members.stream().map(m -> m.name + "=" + m.peerUrl()).toList());
        for (EtcdServer member : members) {
            member.initialCluster = initial;
        }
        // each waits for the others to elect a leader: start them all, then wait for each
        for (EtcdServer member : members) {
            member.launch();
        }
        for (EtcdServer member : members) {
            member.awaitHealthy();
        }
        return members;
    }

    private static int freePort(String host) throws IOException {
        try (ServerSocket socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress(host, 0));
            return socket.getLocalPort();
        }
    }

    /** The client URL. */
    URI url() {
        return URI.create("http://" + host + ":" + clientPort);
    }

    /** Starts (again) on the same ports and data, and waits until it is healthy. */
    void start() throws Exception {
        launch();
        awaitHealthy();
    }

    private void launch() throws IOException {
        String executable = onPath("etcd");
        String peer = peerUrl();
        List<String> command = new ArrayList<>(List.of(executable, "--name", name, "--data-dir", dataDir.toString(),
                "--listen-client-urls", url().toString(), "--advertise-client-urls", url().toString(),
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", initialCluster, "--initial-cluster-state", "new", "--log-level", "warn"));
        process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    private void awaitHealthy() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            if (!process.isAlive()) {
                fail("etcd exited with " + process.exitValue() + ":\n" + Files.readString(log));
            }
            try {
                HttpResponse<String> health = HTTP.send(HttpRequest.newBuilder(url().resolve("/health"))
                        .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
                if (health.body().contains("\"health\":\"true\"")) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            if (System.nanoTime() > deadline) {
                fail("etcd did not become healthy within 20 s:\n" + Files.readString(log));
            }
            Thread.sleep(50);
        }
    }

    /** Kills it (SIGKILL), as when its machine dies. */
    void kill() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** Stops it (SIGTERM) and waits for the exit. */
    void stop() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
    }

    private static String onPath(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path candidate = Path.of(dir, name);
            if (Files.isExecutable(candidate)) {
                return candidate.toString();
            }
        }
        fail(name + " is not installed (not on PATH); bin/test installs Debian's etcd-server, or run: "
                + "apt-get install etcd-server");
        return null;
    }

    @Override
    public void close() throws IOException {
        if (process != null) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try (Stream<Path> files = Files.walk(dataDir.getParent())) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
