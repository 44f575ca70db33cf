package io.diglett.server.acme;

import io.diglett.server.registrar.CommandOutput;

import io.diglett.protocol.Printable;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
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
        CommandOutput.Ran ran = CommandOutput.run(command, Map.of("PATH", "/usr/local/bin:/usr/bin:/bin",
                "ACTION", action, "DOMAIN", domain, "TXT_NAME", txtName, "TXT_VALUE", txtValue), timeout);
        if (!ran.finished()) {
            throw new IOException("--acme-dns-hook (" + action + " " + txtName + ") did not finish within "
                    + timeout.toSeconds() + " s: " + Printable.of(ran.said()));
        }
        if (ran.exitCode() != 0) {
            throw new IOException("--acme-dns-hook (" + action + " " + txtName + ") exited with " + ran.exitCode()
                    + ": " + Printable.of(ran.said()));
        }
        log.debug("--acme-dns-hook ({} {}): {}", action, txtName, Printable.of(ran.said()));
    }
}
