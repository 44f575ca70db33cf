package io.diglett.agent;

import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;

/**
 * The agent's live console on a terminal, like ngrok's: state, public URLs, the gateway's fingerprint, open
 * streams, bytes each way, the recent connections and the last error, redrawn every second. Log lines go to a
 * file meanwhile; without a terminal (a service, a pipe) there is no view, only log lines.
 */
final class StatusView implements AutoCloseable {

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss").withZone(ZoneId.systemDefault());

    private final AgentStatus status;
    private final PrintStream out;
    private final String logFile;
    private final Thread thread;
    private volatile boolean running = true;

    StatusView(AgentStatus status, PrintStream out, String logFile) {
        this.status = status;
        this.out = out;
        this.logFile = logFile;
        this.thread = new Thread(this::loop, "diglett-status-view");
        this.thread.setDaemon(true);
    }

    /** Whether this process has a terminal to draw on (and the user did not ask for plain logs). */
    static boolean usable() {
        String term = System.getenv("TERM");
        return System.console() != null && term != null && !term.isEmpty() && !term.equals("dumb");
    }

    void start() {
        out.print("\033[?1049h\033[?25l"); // alternate screen, cursor hidden
        out.flush();
        thread.start();
    }

    private void loop() {
        while (running) {
            out.print("\033[H\033[2J" + render(status, 100));
            out.flush();
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        out.print("\033[?25h\033[?1049l"); // back to the normal screen
        out.flush();
    }

    /** The screen for {@code status}, {@code width} columns wide; plain text with line feeds. */
    static String render(AgentStatus status, int width) {
        StringBuilder s = new StringBuilder();
        Instant now = status.now();
        s.append("diglett").append(pad("(Ctrl-C to stop)", width - 7)).append('\n').append('\n');
        line(s, "State", state(status, now));
        line(s, "Gateway", status.gateway());
        line(s, "Fingerprint", status.fingerprint() == null ? "-" : status.fingerprint());
        line(s, "Links", links(status));
        for (AgentStatus.Tunnel t : status.tunnels()) {
            Registration r = t.registration();
            String raw = r == null || r.publicPort() == 0 ? "" : status.gatewayHost() + ":" + r.publicPort();
            String where = r == null ? "(not registered)"
                    : String.join("  ", r.urls()) + (r.urls().isEmpty() || raw.isEmpty() ? "" : "  ") + raw;
            line(s, "Forwarding", where + " -> " + t.backend());
            if (t.certificate() != null) {
                line(s, "Certificate", t.certificate());
            }
        }
        s.append('\n');
        s.append(String.format(Locale.ROOT, "%-16s %8s %12s %10s %10s%n", "Name", "Open", "Connections", "In", "Out"));
        for (AgentStatus.Tunnel t : status.tunnels()) {
            s.append(String.format(Locale.ROOT, "%-16s %8d %12d %10s %10s%n", cut(t.name(), 16), t.open(),
                    t.connections(), bytes(t.bytesIn()), bytes(t.bytesOut())));
        }
        s.append('\n').append("Recent connections\n");
        List<AgentStatus.Connection> recent = status.recent();
        if (recent.isEmpty()) {
            s.append("  (none yet)\n");
        }
        for (int i = recent.size() - 1; i >= Math.max(0, recent.size() - 10); i--) {
            AgentStatus.Connection c = recent.get(i);
            s.append(String.format(Locale.ROOT, "  %s %-12s %-22s %7s %9s %9s  %s%n", TIME.format(c.at()),
                    cut(c.name(), 12), cut(c.client(), 22), millis(c.duration()), bytes(c.bytesIn()),
                    bytes(c.bytesOut()), cut(c.result(), Math.max(48, width - 76))));
        }
        if (status.lastError() != null) {
            s.append('\n');
            line(s, "Last error", TIME.format(status.lastErrorAt()) + " " + cut(status.lastError(), width - 24));
        }
        return s.toString();
    }

    private static String state(AgentStatus status, Instant now) {
        String state = status.state().name().toLowerCase(Locale.ROOT);
        if (status.state() == AgentStatus.State.RECONNECTING && status.nextAttempt() != null) {
            long s = Math.max(0, Duration.between(now, status.nextAttempt()).toSeconds());
            return state + " in " + s + " s";
        }
        return state + " for " + human(Duration.between(status.stateSince(), now));
    }

    /** The agent's links on one line: how many are online, and each one's streams ({@code #N} its number). */
    static String links(AgentStatus status) {
        StringBuilder s = new StringBuilder();
        s.append(status.linksOnline()).append(" of ").append(status.links().size()).append(" online");
        String sep = " (";
        for (AgentStatus.Link link : status.links()) {
            s.append(sep).append('#').append(link.slot()).append(' ');
            s.append(switch (link.state()) {
                case ONLINE -> link.open() + (link.open() == 1 ? " stream" : " streams");
                case CONNECTING -> "connecting";
                case RETRYING -> "retrying";
                case UNUSED -> "unused";
            });
            sep = ", ";
        }
        return s.append(')').toString();
    }

    private static void line(StringBuilder s, String label, String value) {
        s.append(String.format(Locale.ROOT, "%-14s%s%n", label, value));
    }

    private static String pad(String text, int width) {
        return width <= text.length() ? " " + text : " ".repeat(width - text.length()) + text;
    }

    private static String cut(String text, int max) {
        return text == null ? "" : text.length() <= max ? text : text.substring(0, Math.max(0, max - 1)) + "~";
    }

    static String bytes(long n) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int i = 0;
        while (v >= 1024 && i < units.length - 1) {
            v /= 1024;
            i++;
        }
        return i == 0 ? n + " B" : String.format(Locale.ROOT, "%.1f %s", v, units[i]);
    }

    private static String millis(Duration d) {
        long ms = d.toMillis();
        return ms < 10_000 ? ms + "ms" : human(d);
    }

    private static String human(Duration d) {
        long s = Math.max(0, d.toSeconds());
        return s < 60 ? s + "s" : s < 3600 ? s / 60 + "m" + s % 60 + "s" : s / 3600 + "h" + s % 3600 / 60 + "m";
    }

    String logFile() {
        return logFile;
    }
}
