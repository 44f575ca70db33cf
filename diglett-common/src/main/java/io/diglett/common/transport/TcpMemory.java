package io.diglett.common.transport;

import io.diglett.protocol.mux.BufferBudget;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.util.function.LongSupplier;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches the memory the Linux kernel holds in TCP socket buffers, system-wide, against its pressure mark
 * ({@code net.ipv4.tcp_mem}'s second value). Above the mark the kernel shrinks every socket's buffers to a
 * fair share, and an agent link, which carries every stream of an agent, then crawls for all its clients.
 * Thousands of clients that ask for data and never read fill kernel buffers this process cannot free except
 * by closing their connections (the backend's send buffers, the agent's receive buffers, the public sockets'):
 * so from {@link #WATCH_SHARE} of the mark on, the {@link BufferBudget} is told memory is short, and stalled
 * streams are shed after {@link BufferBudget#SHORT_STALL} instead of the stall timeout.
 *
 * <p>Reads {@code /proc/net/sockstat} and {@code /proc/sys/net/ipv4/tcp_mem} four times a second; elsewhere (no such
 * files) it does nothing.
 */
public final class TcpMemory {

    private static final Logger log = LoggerFactory.getLogger(TcpMemory.class);

    /**
     * Share of the kernel's pressure mark from which memory counts as short here: close enough to the mark that
     * a busy but healthy machine (hundreds of bulk transfers on loopback, whose buffers autotune to megabytes)
     * stays below it, early enough to shed before the kernel clamps every socket.
     */
    public static final double WATCH_SHARE = 0.9;

    /**
     * Share of the mark from which memory is tight: nothing is shed yet, but the streams' sockets keep small
     * kernel queues ({@link BufferBudget#systemTight}), so that what stalled clients pin grows more slowly and
     * they are found stuck sooner if memory then becomes short.
     */
    public static final double TIGHT_SHARE = 0.5;

    /**
     * How often the figures are read: four times a second, since thousands of stalled connections take the kernel
     * from comfortable to clamped in a few seconds (two small reads of {@code /proc} each time).
     */
    static final long PERIOD_MILLIS = 250;

    private static final Path SOCKSTAT = Path.of("/proc/net/sockstat");
    private static final Path TCP_MEM = Path.of("/proc/sys/net/ipv4/tcp_mem");

    /** Memory stays short until below this share of the mark it crossed... */
    static final double RELIEF = 0.85;
    /** ... and for at least this long. */
    static final long MIN_SHORT_NANOS = 2_000_000_000L;

    private final LongSupplier nanoClock;
    private long shortSince;
    private final Path sockstat;
    private final Path tcpMem;
    private final BufferBudget budget;
    private boolean memoryShort;
    private ScheduledFuture<?> task;
    private final List<Consumer<Boolean>> listeners = new CopyOnWriteArrayList<>();

    public TcpMemory(BufferBudget budget) {
        this(budget, SOCKSTAT, TCP_MEM, System::nanoTime);
    }

    TcpMemory(BufferBudget budget, Path sockstat, Path tcpMem, LongSupplier nanoClock) {
        this.nanoClock = nanoClock;
        this.budget = budget;
        this.sockstat = sockstat;
        this.tcpMem = tcpMem;
    }

    /** Checks every {@value #PERIOD_MILLIS} ms on {@code executor}, if this system has the files; returns whether it does. */
    public boolean start(EventExecutor executor) {
        if (!Files.isReadable(sockstat) || !Files.isReadable(tcpMem)) {
            return false;
        }
        task = executor.scheduleAtFixedRate(this::check, PERIOD_MILLIS, PERIOD_MILLIS, TimeUnit.MILLISECONDS);
        return true;
    }

    /** Tells {@code listener} whenever memory becomes short ({@code true}) and when it no longer is. */
    public void onChange(Consumer<Boolean> listener) {
        listeners.add(listener);
    }

    public void stop() {
        if (task != null) {
            task.cancel(false);
        }
    }

    /** Reads the figures and tells the budget; logs when memory becomes short and when it no longer is. */
    void check() {
        long used;
        long mark;
        try {
            used = pagesInUse(read(sockstat));
            mark = pressureMark(read(tcpMem));
        } catch (IOException | RuntimeException e) {
            log.debug("cannot read the kernel's TCP memory figures: {}", e.toString());
            return;
        }
        if (used < 0 || mark <= 0) {
            return;
        }
        boolean now;
        if (!memoryShort) {
            now = used >= WATCH_SHARE * mark;
        } else {
            // hysteresis: short until clearly below the mark, and for a while, so that the state (and the log)
            // does not flap four times a second while shed streams free their memory
            now = used >= RELIEF * WATCH_SHARE * mark || nanoClock.getAsLong() - shortSince < MIN_SHORT_NANOS;
        }
        boolean changed = now != memoryShort;
        if (changed) {
            memoryShort = now;
            if (now) {
                shortSince = nanoClock.getAsLong();
                log.warn("memory short: TCP socket memory at {} of the kernel's pressure mark of {} pages; streams"
                        + " that make no progress for {} ms are shed until it is below {}%", used, mark,
                        BufferBudget.SHORT_STALL.toMillis(), Math.round(RELIEF * WATCH_SHARE * 100));
            } else {
                log.info("memory no longer short: TCP socket memory at {} of {} pages", used, mark);
            }
        }
        budget.systemPressure(now);
        budget.systemTight(now || used >= TIGHT_SHARE * mark);
        if (changed) {
            listeners.forEach(listener -> listener.accept(now));
        }
    }

    /**
     * The whole of a {@code /proc} file in one read: a sysctl file read from an offset other than 0 reads as
     * empty, and {@code Files.readString} (the file's size is 0) reads its first byte alone, then the rest from
     * offset 1, so it saw "2" where the file says "287889 383855 575778".
     */
    private static String read(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[8192];
            int n = in.readNBytes(buf, 0, buf.length);
            return new String(buf, 0, n, StandardCharsets.US_ASCII);
        }
    }

    /** The {@code mem} figure of the {@code TCP:} line of {@code /proc/net/sockstat}, in pages; -1 if absent. */
    static long pagesInUse(String sockstat) {
        for (String line : sockstat.split("\n")) {
            if (line.startsWith("TCP:")) {
                String[] fields = line.trim().split("\\s+");
                for (int i = 1; i + 1 < fields.length; i++) {
                    if (fields[i].equals("mem")) {
                        return Long.parseLong(fields[i + 1]);
                    }
                }
            }
        }
        return -1;
    }

    /** The second of {@code tcp_mem}'s three values: where the kernel's memory pressure begins, in pages. */
    static long pressureMark(String tcpMem) {
        String[] values = tcpMem.trim().split("\\s+");
        return values.length == 3 ? Long.parseLong(values[1]) : -1;
    }
}
