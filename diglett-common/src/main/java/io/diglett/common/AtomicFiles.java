package io.diglett.common;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Files the programs write for themselves (the agent's known-gateways file, the gateway's generated keys and
 * certificates): replaced whole, so a reader or a crash sees the old content or the new, never a part; and
 * changed under a lock, so writers in other processes and in this one do not lose each other's changes.
 */
public final class AtomicFiles {

    /** One monitor per locked file: a JVM may hold a file lock only once, so its own threads queue here first. */
    private static final ConcurrentHashMap<Path, Object> MONITORS = new ConcurrentHashMap<>();

    private AtomicFiles() {
    }

    /** Work done under {@link #locked}. */
    @FunctionalInterface
    public interface Locked<T> {
        T run() throws IOException;
    }

    /**
     * Runs {@code action} holding an exclusive lock on {@code file}'s lock file ({@code file.lock} beside it,
     * created with the directory if missing): other threads of this process and other processes locking the same
     * file wait for it.
     */
    @SuppressWarnings("try") // the lock is held for the body, never referenced in it
    public static <T> T locked(Path file, Locked<T> action) throws IOException {
        Path absolute = file.toAbsolutePath().normalize();
        Files.createDirectories(absolute.getParent());
        Path lockFile = absolute.resolveSibling(absolute.getFileName() + ".lock");
        synchronized (MONITORS.computeIfAbsent(lockFile, k -> new Object())) {
            try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock held = channel.lock()) {
                return action.run();
            }
        }
    }

    /**
     * Replaces {@code file}'s content with {@code content}: written to a new owner-only ({@code rw-------})
     * file beside it, forced to the disk, then renamed over it (and the rename forced too). A symbolic link is
     * followed: its target is replaced, the link stays.
     */
    public static void write(Path file, byte[] content) throws IOException {
        Path target = Files.isSymbolicLink(file) ? file.toRealPath() : file.toAbsolutePath();
        Path dir = target.getParent();
        Files.createDirectories(dir);
        Path tmp;
        try {
            tmp = Files.createTempFile(dir, "." + target.getFileName(), ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException notPosix) {
            tmp = Files.createTempFile(dir, "." + target.getFileName(), ".tmp");
        }
        try {
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer buffer = ByteBuffer.wrap(content);
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
                out.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
        try (FileChannel directory = FileChannel.open(dir, StandardOpenOption.READ)) {
            directory.force(true); // the rename itself survives a crash
        } catch (IOException notSupported) {
            // some systems cannot sync a directory: the rename is still atomic
        }
    }

    /**
     * Whether users other than the owner may read {@code file}: any user ({@code others}), or with
     * {@code groupToo} also its group. {@code false} where permissions are not POSIX or cannot be read.
     */
    public static boolean othersMayRead(Path file, boolean groupToo) {
        try {
            Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(file);
            return permissions.contains(PosixFilePermission.OTHERS_READ)
                    || groupToo && permissions.contains(PosixFilePermission.GROUP_READ);
        } catch (IOException | UnsupportedOperationException e) {
            return false; // not a POSIX file system, or gone: nothing to say
        }
    }
}
