package io.diglett.protocol.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameDecoder;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Protocol;
import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledDirectByteBuf;
import io.netty.buffer.UnpooledHeapByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * What the session fuzz tests of the agent and the gateway share: an exact, fast leak check (a counting
 * allocator), decoding of what a session wrote, a log tee, and per-case random streams.
 */
public final class Fuzzing {

    private Fuzzing() {
    }

    /** Decodes what a session wrote with a FrameDecoder; nothing may be left over, nothing may fail. */
    public static List<Frame> decodeFrames(byte[] bytes, int start) {
        TrackingAllocator tracker = new TrackingAllocator();
        List<Frame> frames = new ArrayList<>();
        EmbeddedChannel decoder = new EmbeddedChannel(new FrameDecoder());
        decoder.config().setAllocator(tracker);
        try {
            decoder.writeInbound(tracker.buffer(bytes.length - start).writeBytes(bytes, start, bytes.length - start));
            Object msg;
            while ((msg = decoder.readInbound()) != null) {
                if (msg instanceof Frame frame) {
                    // copied out so the decoder's buffers can all be released here
                    frames.add(frame.replace(Unpooled.wrappedBuffer(ByteBufUtil.getBytes(frame.content()))));
                }
                ReferenceCountUtil.release(msg);
            }
            decoder.checkException();
            assertTrue(!((FrameDecoder) decoder.pipeline().first()).failed(), "the session wrote an invalid frame");
        } catch (Throwable t) {
            releaseAll(frames);
            throw new AssertionError("what the session wrote does not decode: " + t, t);
        } finally {
            decoder.finishAndReleaseAll();
        }
        tracker.assertAllReleased();
        return frames;
    }

    public static void releaseAll(List<Frame> frames) {
        for (Frame frame : frames) {
            if (frame.refCnt() > 0) {
                frame.release();
            }
        }
    }

    public static SplittableRandom caseRandom(long seed, int index) {
        return new SplittableRandom(new SplittableRandom(seed + index * 0x9E3779B97F4A7C15L).nextLong());
    }

    /**
     * Unpooled buffers that Netty's leak detector does not track (paranoid tracking records a stack trace on
     * every access: far too slow for this many cases), each remembered so that a case can check that all were
     * released, and with them every slice.
     */
    public static final class TrackingAllocator extends AbstractByteBufAllocator {
        /** -Ddiglett.fuzz.trace=true: remember where each buffer was allocated, for the leak report. */
        private static final boolean TRACE = Boolean.getBoolean("diglett.fuzz.trace");
        private final List<ByteBuf> allocated = new ArrayList<>();
        private final List<Throwable> origins = new ArrayList<>();

        public TrackingAllocator() {
            super(false);
        }

        @Override
        protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
            if (TRACE) {
                return track(new UnpooledHeapByteBuf(this, initialCapacity, maxCapacity) {
                    @Override
                    public ByteBuf retain() {
                        origin(this).addSuppressed(new Throwable("retain"));
                        return super.retain();
                    }

                    @Override
                    public boolean release() {
                        origin(this).addSuppressed(new Throwable("release"));
                        return super.release();
                    }
                });
            }
            return track(new UnpooledHeapByteBuf(this, initialCapacity, maxCapacity));
        }

        @Override
        protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
            return track(new UnpooledDirectByteBuf(this, initialCapacity, maxCapacity));
        }

        @Override
        public boolean isDirectBufferPooled() {
            return false;
        }

        private Throwable origin(ByteBuf buf) {
            for (int i = 0; i < allocated.size(); i++) {
                if (allocated.get(i) == buf) {
                    return origins.get(i);
                }
            }
            throw new IllegalStateException();
        }

        private ByteBuf track(ByteBuf buf) {
            allocated.add(buf);
            if (TRACE) {
                origins.add(new Throwable("allocated here"));
            }
            return buf;
        }

        public void assertAllReleased() {
            List<String> leaked = new ArrayList<>();
            for (int i = 0; i < allocated.size(); i++) {
                ByteBuf buf = allocated.get(i);
                if (buf.refCnt() != 0) {
                    StringBuilder sb = new StringBuilder(buf.toString());
                    if (TRACE) {
                        for (StackTraceElement e : origins.get(i).getStackTrace()) {
                            sb.append("\n\t\t").append(e);
                        }
                        for (Throwable t : origins.get(i).getSuppressed()) {
                            sb.append("\n\t").append(t.getMessage());
                            for (StackTraceElement e : t.getStackTrace()) {
                                sb.append("\n\t\t").append(e);
                            }
                        }
                    }
                    leaked.add(sb.toString());
                    buf.release(buf.refCnt());
                }
            }
            allocated.clear();
            origins.clear();
            if (!leaked.isEmpty()) {
                fail("LEAK: " + leaked.size() + " buffer(s) not released (rerun with -Ddiglett.fuzz.trace=true to see"
                        + " where they were allocated): " + leaked);
            }
        }
    }

    /** Tees System.err (where slf4j-simple and Netty log) so a case can look for escaped exceptions. */
    public static final class LogCapture extends OutputStream {
        private final PrintStream original = System.err;
        private final ByteArrayOutputStream captured = new ByteArrayOutputStream();

        public static LogCapture start() {
            LogCapture capture = new LogCapture();
            System.setErr(new PrintStream(capture, true, StandardCharsets.UTF_8));
            return capture;
        }

        public void stop() {
            System.setErr(original);
        }

        @Override
        public synchronized void write(int b) {
            original.write(b);
            captured.write(b);
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            original.write(b, off, len);
            captured.write(b, off, len);
        }

        @Override
        public void flush() {
            original.flush();
        }

        public synchronized void reset() {
            captured.reset();
        }

        public synchronized String text() {
            return captured.toString(StandardCharsets.UTF_8);
        }
    }

    /**
     * Runs {@code body} on a fresh thread and rethrows what it throws: the paranoid leak detector records a
     * stack trace on every buffer access, much cheaper on a shallow stack than under JUnit's seventy frames.
     */
    public static void onShallowStack(Runnable body) {
        Throwable[] thrown = new Throwable[1];
        Thread thread = new Thread(() -> {
            try {
                body.run();
            } catch (Throwable t) {
                thrown[0] = t;
            }
        }, "fuzz");
        thread.start();
        try {
            thread.join();
        } catch (InterruptedException e) {
            thread.interrupt();
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
        if (thrown[0] instanceof Error error) {
            throw error;
        }
        if (thrown[0] != null) {
            throw new AssertionError(thrown[0]);
        }
    }


    // ---------------------------------------------------------------- bytes of frames, by hand

    public static byte[] handshake(int version) {
        return new byte[] {'d', 'i', 'g', 'l', (byte) version};
    }

    public static byte[] frame(FrameKind kind, int id, byte[] payload) {
        byte[] b = new byte[Protocol.HEADER_LENGTH + payload.length];
        b[0] = (byte) kind.code();
        System.arraycopy(intBytes(id), 0, b, 1, 4);
        b[5] = (byte) (payload.length >>> 8);
        b[6] = (byte) payload.length;
        System.arraycopy(payload, 0, b, Protocol.HEADER_LENGTH, payload.length);
        return b;
    }

    public static byte[] text(FrameKind kind, int id, String text) {
        return frame(kind, id, text.getBytes(StandardCharsets.UTF_8));
    }

    public static byte[] intBytes(int v) {
        return new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v};
    }

    public static int readInt(byte[] b, int at) {
        return ((b[at] & 0xFF) << 24) | ((b[at + 1] & 0xFF) << 16) | ((b[at + 2] & 0xFF) << 8) | (b[at + 3] & 0xFF);
    }

    public static byte[] randomBytes(SplittableRandom rnd, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) rnd.nextInt(256);
        }
        return b;
    }

    public static String describeFrame(byte[] b) {
        if (b.length >= Protocol.HEADER_LENGTH && FrameKind.of(b[0] & 0xFF) != null) {
            int size = (b[5] & 0xFF) << 8 | (b[6] & 0xFF);
            return FrameKind.of(b[0] & 0xFF) + "(" + Integer.toUnsignedString(readInt(b, 1)) + ","
                    + (size == b.length - Protocol.HEADER_LENGTH ? "" : "size field ") + size + ")";
        }
        return "bytes[" + ByteBufUtil.hexDump(b, 0, Math.min(b.length, 16)) + (b.length > 16 ? "..." : "") + "]";
    }
}
