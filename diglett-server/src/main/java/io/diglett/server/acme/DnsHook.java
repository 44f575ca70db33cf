package io.diglett.server.acme;

import io.diglett.server.registrar.CommandOutput;

import io.diglett.protocol.Printable;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator's DNS-01 command ({@code --acme-dns-hook}), run with {@code /bin/sh -c} and a minimal environment:
 * {@code PATH}, {@code ACTION} ({@code present} or {@code cleanup}), {@code DOMAIN} (the name validated, without
 * {@code *.}), {@code TXT_NAME} (the record's name, {@code _acme-challenge.DOMAIN}) and {@code TXT_VALUE}. A
 * {@code present} must return once the record can be seen (it waits for its DNS provider if needed); exit 0 for
 * success. What it prints goes to the log only, escaped and cut to its end.
 */
final class DnsHook {

    private static final Logger log = LoggerFactory.getLogger(DnsHook.class);

    private final String command;
    private final Duration timeout;

    DnsHook(String command, Duration timeout) {
        this.command = command;
        this.timeout = timeout;
    }

    /** Runs {@code action} for {@code domain}'s record; throws with the reason when it fails. */
    void run(String action, String domain, String txtName, String txtValue) throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(List.of("/bin/sh", "-c", command)).redirectErrorStream(true);
        Map<String, String> env = builder.environment();
        env.clear();
        env.put("PATH", "/usr/local/bin:/usr/bin:/bin");
        env.put("ACTION", action);
        env.put("DOMAIN", domain);
        env.put("TXT_NAME", txtName);
        env.put("TXT_VALUE", txtValue);
        Process process = builder.start();
        process.getOutputStream().close();
        CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> CommandOutput.tail(process.getInputStream()));
        boolean finished;
        try {
            finished = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            process.destroyForcibly();
            throw e;
        }
        if (!finished) {
            process.destroyForcibly();
            throw new IOException("--acme-dns-hook (" + action + " " + txtName + ") did not finish within "
                    + timeout.toSeconds() + " s: " + Printable.of(CommandOutput.said(output)));
        }
        String said = CommandOutput.said(output);
        if (process.exitValue() != 0) {
            throw new IOException("--acme-dns-hook (" + action + " " + txtName + ") exited with "
                    + process.exitValue() + ": " + Printable.of(said));
        }
        log.debug("--acme-dns-hook ({} {}): {}", action, txtName, Printable.of(said));
    }
}
