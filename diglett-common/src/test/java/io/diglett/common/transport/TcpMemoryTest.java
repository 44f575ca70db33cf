package io.diglett.common.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.mux.BufferBudget;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The kernel's TCP memory figures read, memory judged tight from half the pressure mark and short from 90%. */
class TcpMemoryTest {

    private static final String SOCKSTAT = """
            sockets: used 10192
            TCP: inuse 4773 orphan 0 tw 21 alloc 10161 mem %d
            UDP: inuse 0 mem 0
            """;

    @Test
    void readsThePagesInUseAndThePressureMark() {
        assertEquals(426396, TcpMemory.pagesInUse(SOCKSTAT.formatted(426396)));
        assertEquals(-1, TcpMemory.pagesInUse("sockets: used 1\n"));
        assertEquals(383855, TcpMemory.pressureMark("287889\t383855\t575778\n"));
        assertEquals(-1, TcpMemory.pressureMark("2"));
    }

    @Test
    void tellsTheBudgetWhenMemoryIsShortAndWhenItIsNotAnyMore(@TempDir Path dir) throws Exception {
        Path sockstat = dir.resolve("sockstat");
        Path tcpMem = dir.resolve("tcp_mem");
        Files.writeString(tcpMem, "800\t1000\t1200\n");
        BufferBudget budget = new BufferBudget(1 << 20, 1 << 20, 1 << 20);
        java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong();
        TcpMemory watcher = new TcpMemory(budget, sockstat, tcpMem, now::get);

        Files.writeString(sockstat, SOCKSTAT.formatted(499));
        watcher.check();
        assertFalse(budget.systemTight(), "below half of the mark");
        Files.writeString(sockstat, SOCKSTAT.formatted(500));
        watcher.check();
        assertTrue(budget.systemTight(), "from half of the mark on: tight, the sockets' queues are held small");
        assertFalse(budget.systemPressure(), "but not short");
        Files.writeString(sockstat, SOCKSTAT.formatted(899));
        watcher.check();
        assertFalse(budget.systemPressure(), "below 90% of the mark");
        Files.writeString(sockstat, SOCKSTAT.formatted(900));
        watcher.check();
        assertTrue(budget.systemPressure(), "from 90% of the mark on");
        Files.delete(sockstat);
        watcher.check();
        assertTrue(budget.systemPressure(), "an unreadable figure changes nothing");
        Files.writeString(sockstat, SOCKSTAT.formatted(100));
        watcher.check();
        assertTrue(budget.systemPressure(), "short for at least 2 s");
        now.addAndGet(TcpMemory.MIN_SHORT_NANOS);
        Files.writeString(sockstat, SOCKSTAT.formatted(800));
        watcher.check();
        assertTrue(budget.systemPressure(), "short until clearly below the mark (85% of 90%)");
        Files.writeString(sockstat, SOCKSTAT.formatted(760));
        watcher.check();
        assertFalse(budget.systemPressure());
        assertTrue(budget.systemTight(), "760 of 1000 is still tight");
        Files.writeString(sockstat, SOCKSTAT.formatted(100));
        watcher.check();
        assertFalse(budget.systemTight());
    }
}
