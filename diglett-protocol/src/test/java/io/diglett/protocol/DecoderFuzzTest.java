package io.diglett.protocol;

import static io.diglett.protocol.testing.Fuzzing.onShallowStack;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledDirectByteBuf;
import io.netty.buffer.UnpooledHeapByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Seeded fuzzing of {@link HandshakeDecoder} + {@link FrameDecoder}: 100,000 inputs (random bytes, valid
 * handshakes followed by garbage, valid frame sequences that are then mutated) are fed in random-sized chunks.
 *
 * <p>Every input is also run through a reference parser written from {@code docs/protocol.md} sections 1-3,
 * and the decoders must agree with it exactly: the same handshake, the same frames (kind, id, payload), and a
 * {@link ProtocolException} exactly when the reference finds a bad magic, an unknown kind or a size outside
 * the kind's range; nothing after that exception (errors are sticky); nothing but a {@code ProtocolException}
 * ever. Chunking must not matter. Every buffer is released: most cases allocate from a {@link TrackingAllocator}
 * that checks each buffer after the case; every hundredth uses Netty's default allocator, watched by the
 * build's paranoid leak detector and {@code LeakGuard}.
 *
 * <p>Reproduce a failure with the seed and case printed in the message:
 * {@code mvn test -pl diglett-protocol -Dtest=DecoderFuzzTest -Ddiglett.fuzz.seed=S -Ddiglett.fuzz.case=N}
 * ({@code -Ddiglett.fuzz.cases=N} changes how many cases run, a new seed explores new inputs).
 */
class DecoderFuzzTest {

    private static final long DEFAULT_SEED = 0x0D1611E77F022L;
    private static final int DEFAULT_CASES = 100_000;
    private static final int PARANOID_EVERY = 100;

    private static final FrameKind[] KINDS = FrameKind.values();

    private final Stats stats = new Stats();

    @Test
    void decodersAgreeWithTheReferenceParserOnRandomAndMutatedInput() {
        long seed = Long.getLong("diglett.fuzz.seed", DEFAULT_SEED);
        int cases = Integer.getInteger("diglett.fuzz.cases", DEFAULT_CASES);
        int only = Integer.getInteger("diglett.fuzz.case", -1);
        long started = System.nanoTime();
        onShallowStack(() -> {
            for (int i = 0; i < cases; i++) {
                if (only < 0 || only == i) {
                    runCase(seed, i);
                }
            }
        });
        long millis = (System.nanoTime() - started) / 1_000_000;
        System.out.printf("DecoderFuzzTest seed=%d: %d inputs (%d bytes in %d chunks) in %d ms (%d ms in the"
                        + " paranoid cases)%n  %d handshakes, %d frames decoded: %s%n"
                        + "  %d handshake errors, %d frame errors, %d inputs without error%n",
                seed, stats.inputs, stats.bytes, stats.chunks, millis, stats.paranoidNanos / 1_000_000,
                stats.handshakes, stats.frames, stats.byKind, stats.handshakeErrors, stats.frameErrors, stats.clean);
        if (only < 0 && cases >= DEFAULT_CASES) {
            // The generator must keep reaching every outcome, or the fuzzing silently loses its teeth.
            String why = "generator coverage, seed=" + seed + ": " + stats.byKind;
            assertTrue(stats.inputs >= 100_000, why);
            assertTrue(stats.frames >= 200_000, why + " frames=" + stats.frames);
            assertTrue(stats.handshakeErrors >= 5_000, why + " handshakeErrors=" + stats.handshakeErrors);
            assertTrue(stats.frameErrors >= 20_000, why + " frameErrors=" + stats.frameErrors);
            assertTrue(stats.clean >= 20_000, why + " clean=" + stats.clean);
            for (FrameKind kind : KINDS) {
                assertTrue(stats.byKind.getOrDefault(kind, 0L) >= 1_000, why);
            }
        }
    }

    // ------------------------------------------------------------------ one case

    private void runCase(long seed, int index) {
        long t0 = System.nanoTime();
        try {
            runCase0(seed, index);
        } finally {
            if (index % PARANOID_EVERY == 0) {
                stats.paranoidNanos += System.nanoTime() - t0;
            }
        }
    }

    private void runCase0(long seed, int index) {
        SplittableRandom rnd = caseRandom(seed, index);
        String where = "seed=" + seed + " case=" + index + " (rerun with -Ddiglett.fuzz.seed=" + seed
                + " -Ddiglett.fuzz.case=" + index + ")";
        byte[] input = generate(rnd);
        Expected expected = reference(input);
        Recorder recorder = new Recorder();
        EmbeddedChannel channel = new EmbeddedChannel(new HandshakeDecoder(), new FrameDecoder(), recorder);
        // Most cases count every buffer themselves (exact, and fast); every PARANOID_EVERY-th case uses the
        // default allocator so that Netty's paranoid leak detector (and LeakGuard) watches it too.
        TrackingAllocator tracker = index % PARANOID_EVERY == 0 ? null : new TrackingAllocator();
        if (tracker != null) {
            channel.config().setAllocator(tracker);
        }
        int chunks = 0;
        try {
            int mode = rnd.nextInt(4);
            if (mode == 1 && input.length > 256) {
                mode = 2; // byte by byte only for short inputs: it costs a read per byte
            }
            int pos = 0;
            while (pos < input.length || (pos == 0 && input.length == 0)) {
                int n = switch (mode) {
                    case 0 -> input.length - pos;
                    case 1 -> Math.min(1, input.length - pos);
                    case 2 -> Math.min(1 + rnd.nextInt(16), input.length - pos);
                    default -> rnd.nextInt(input.length - pos + 1); // may be 0: an empty read
                };
                ByteBuf chunk = channel.alloc().buffer(Math.max(n, 1)).writeBytes(input, pos, n);
                pos += n;
                chunks++;
                try {
                    channel.writeInbound(chunk);
                    channel.checkException();
                } catch (Throwable t) {
                    recorder.events.add(t);
                }
                if (input.length == 0) {
                    break;
                }
            }
            channel.runPendingTasks();
            try {
                channel.checkException();
            } catch (Throwable t) {
                recorder.events.add(t);
            }
            check(where, input, expected, recorder);
        } catch (AssertionError e) {
            String message = String.valueOf(e.getMessage());
            throw new AssertionError((message.contains(where) ? "" : where + ": ") + message + "\n  input ("
                    + input.length + " bytes): " + ByteBufUtil.hexDump(input, 0, Math.min(input.length, 256)), e);
        } finally {
            channel.finishAndReleaseAll();
        }
        if (tracker != null) {
            tracker.assertAllReleased(where);
        }
        stats.inputs++;
        stats.bytes += input.length;
        stats.chunks += chunks;
    }

    private void check(String where, byte[] input, Expected expected, Recorder recorder) {
        List<Object> events = recorder.events;
        int errors = 0;
        for (int i = 0; i < events.size(); i++) {
            if (events.get(i) instanceof Throwable t) {
                errors++;
                assertInstanceOf(ProtocolException.class, t, () -> where + ": only ProtocolException may come out of"
                        + " the decoders, got " + t);
                assertEquals(events.size() - 1, i, () -> where + ": decoder errors are sticky, yet after " + t
                        + " came " + events.subList(events.indexOf(t) + 1, events.size()));
            }
        }
        assertEquals(expected.error == null ? 0 : 1, errors, () -> where + ": expected error " + expected.error
                + ", decoders gave " + events);
        List<Object> messages = new ArrayList<>();
        for (Object event : events) {
            if (!(event instanceof Throwable)) {
                messages.add(event);
            }
        }
        int m = 0;
        if (expected.version >= 0) {
            assertTrue(!messages.isEmpty(), () -> where + ": expected handshake version " + expected.version
                    + ", decoders gave nothing");
            Object first = messages.get(m++);
            assertInstanceOf(Handshake.class, first, where);
            assertEquals(expected.version, ((Handshake) first).version(), where);
            stats.handshakes++;
        }
        // Payload frames may come out in pieces (FrameDecoder passes stream data on as it arrives): compare the
        // byte streams, consecutive Payload frames of one stream joined, on both sides.
        List<Seen> want = new ArrayList<>();
        for (int[] frame : expected.frames) {
            int at = frame[0];
            int start = at + Protocol.HEADER_LENGTH;
            FrameKind kind = FrameKind.of(input[at] & 0xFF);
            want.add(new Seen(kind, readInt(input, at + 1), Arrays.copyOfRange(input, start, start + frame[1])));
            stats.frames++;
            stats.byKind.merge(kind, 1L, Long::sum);
        }
        List<Seen> got = new ArrayList<>();
        for (Object message : messages.subList(m, messages.size())) {
            if (!(message instanceof Seen seen)) {
                fail(where + ": expected a frame, got " + message + " in " + messages);
                return;
            }
            got.add(seen);
        }
        assertEquals(joined(want), joined(got), () -> where + ": expected frames " + want + ", got " + got);
        if (expected.error == null) {
            stats.clean++;
        } else if (expected.error.equals("handshake")) {
            stats.handshakeErrors++;
        } else {
            stats.frameErrors++;
        }
    }

    /** What the tail of the pipeline saw, in order: Handshakes, frames (copied, released at once), errors. */
    private static final class Recorder extends ChannelInboundHandlerAdapter {
        final List<Object> events = new ArrayList<>();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Frame frame) {
                    events.add(new Seen(frame.kind(), frame.id(), ByteBufUtil.getBytes(frame.content())));
                } else if (msg instanceof Handshake handshake) {
                    events.add(handshake);
                } else {
                    events.add("unexpected message " + msg);
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            events.add(cause);
        }
    }

    private record Seen(FrameKind kind, int id, byte[] payload) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Seen s && s.kind == kind && s.id == id && Arrays.equals(s.payload, payload);
        }

        @Override
        public int hashCode() {
            return Objects.hash(kind, id, Arrays.hashCode(payload));
        }

        @Override
        public String toString() {
            return kind + "(id=" + Integer.toUnsignedString(id) + ", size=" + payload.length + ")";
        }
    }

    /** Joins consecutive Payload frames of the same stream into one. */
    private static List<Seen> joined(List<Seen> frames) {
        List<Seen> out = new ArrayList<>();
        for (Seen f : frames) {
            Seen last = out.isEmpty() ? null : out.get(out.size() - 1);
            if (last != null && f.kind == FrameKind.PAYLOAD && last.kind == FrameKind.PAYLOAD && last.id == f.id) {
                byte[] both = Arrays.copyOf(last.payload, last.payload.length + f.payload.length);
                System.arraycopy(f.payload, 0, both, last.payload.length, f.payload.length);
                out.set(out.size() - 1, new Seen(f.kind, f.id, both));
            } else {
                out.add(f);
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ reference parser

    /**
     * @param version handshake version, or -1 when no complete handshake
     * @param frames  {offset, size} of each complete frame the decoders must emit, and of the part of a
     *                trailing Payload frame that has arrived
     * @param error   null, "handshake" or "frame"
     */
    private record Expected(int version, List<int[]> frames, String error) {
    }

    /** docs/protocol.md sections 1-3, as plainly as possible. */
    static Expected reference(byte[] in) {
        List<int[]> frames = new ArrayList<>();
        for (int i = 0; i < Math.min(4, in.length); i++) {
            if ((in[i] & 0xFF) != ((Protocol.MAGIC >>> (24 - 8 * i)) & 0xFF)) {
                return new Expected(-1, frames, "handshake");
            }
        }
        if (in.length < Protocol.HANDSHAKE_LENGTH) {
            return new Expected(-1, frames, null);
        }
        int version = in[4] & 0xFF;
        int pos = Protocol.HANDSHAKE_LENGTH;
        while (in.length - pos >= Protocol.HEADER_LENGTH) {
            FrameKind kind = FrameKind.of(in[pos] & 0xFF);
            int size = ((in[pos + 5] & 0xFF) << 8) | (in[pos + 6] & 0xFF);
            if (kind == null || size < kind.minPayload() || size > kind.maxPayload()) {
                return new Expected(version, frames, "frame");
            }
            int available = in.length - pos - Protocol.HEADER_LENGTH;
            if (available < size) {
                if (kind == FrameKind.PAYLOAD && available > 0) {
                    // stream data is passed on as it arrives, before the rest of its frame
                    frames.add(new int[] {pos, available});
                }
                break;
            }
            frames.add(new int[] {pos, size});
            pos += Protocol.HEADER_LENGTH + size;
        }
        return new Expected(version, frames, null);
    }

    private static int readInt(byte[] b, int at) {
        return ((b[at] & 0xFF) << 24) | ((b[at + 1] & 0xFF) << 16) | ((b[at + 2] & 0xFF) << 8) | (b[at + 3] & 0xFF);
    }

    // ------------------------------------------------------------------ generator

    static SplittableRandom caseRandom(long seed, int index) {
        return new SplittableRandom(new SplittableRandom(seed + index * 0x9E3779B97F4A7C15L).nextLong());
    }

    /** One input: a growable byte array and the offsets of the frame headers written into it. */
    private static final class Bytes {
        byte[] data = new byte[64];
        int length;
        final List<Integer> headers = new ArrayList<>();

        void add(int b) {
            ensure(1);
            data[length++] = (byte) b;
        }

        void add(byte[] b, int off, int len) {
            ensure(len);
            System.arraycopy(b, off, data, length, len);
            length += len;
        }

        void addInt(int v) {
            add(v >>> 24);
            add(v >>> 16);
            add(v >>> 8);
            add(v);
        }

        void ensure(int n) {
            if (length + n > data.length) {
                data = Arrays.copyOf(data, Math.max(data.length * 2, length + n));
            }
        }

        byte[] toArray() {
            return Arrays.copyOf(data, length);
        }
    }

    static byte[] generate(SplittableRandom rnd) {
        int mode = rnd.nextInt(100);
        Bytes out = new Bytes();
        if (mode < 8) {
            randomBytes(rnd, out, rnd.nextInt(48));
        } else if (mode < 16) {
            // a damaged or short magic: the handshake decoder must fail at the first differing byte only
            handshake(out, Protocol.VERSION);
            if (rnd.nextBoolean()) {
                out.data[rnd.nextInt(5)] ^= (byte) (1 + rnd.nextInt(255));
            }
            out.length = rnd.nextInt(out.length + 1);
            randomBytes(rnd, out, rnd.nextInt(3) == 0 ? rnd.nextInt(20) : 0);
        } else if (mode < 20) {
            byte[] text = switch (rnd.nextInt(3)) {
                case 0 -> "GET / HTTP/1.1\r\nHost: example\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
                case 1 -> new byte[] {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc, 0x03, 0x03};
                default -> new byte[] {'d', 'i', 'g', 'l', 1, 0, 0, 0, 0, 0, 0, 0};
            };
            out.add(text, 0, text.length);
        } else if (mode < 36) {
            handshake(out, rnd.nextInt(8) == 0 ? rnd.nextInt(256) : Protocol.VERSION);
            randomBytes(rnd, out, rnd.nextInt(rnd.nextBoolean() ? 16 : 200));
        } else if (mode < 44) {
            // random headers: a kind and size drawn near the edges of every range
            handshake(out, Protocol.VERSION);
            int n = 1 + rnd.nextInt(8);
            for (int i = 0; i < n; i++) {
                int code = rnd.nextInt(10) == 0 ? rnd.nextInt(256) : rnd.nextInt(KINDS.length + 1);
                FrameKind kind = FrameKind.of(code);
                int size = kind == null ? rnd.nextInt(16) : edgeSize(rnd, kind);
                header(out, code, rnd.nextInt(), size);
                randomBytes(rnd, out, Math.min(size, rnd.nextInt(4) == 0 ? rnd.nextInt(size + 1) : size));
            }
        } else {
            handshake(out, rnd.nextInt(50) == 0 ? 1 : Protocol.VERSION);
            int n = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(40) : 1 + rnd.nextInt(10);
            for (int i = 0; i < n; i++) {
                validFrame(rnd, out);
            }
            if (mode < 92) {
                int mutations = 1 + rnd.nextInt(rnd.nextBoolean() ? 2 : 5);
                for (int i = 0; i < mutations; i++) {
                    mutate(rnd, out);
                }
            }
        }
        return out.toArray();
    }

    private static void handshake(Bytes out, int version) {
        out.addInt(Protocol.MAGIC);
        out.add(version);
    }

    private static void header(Bytes out, int code, int id, int size) {
        out.headers.add(out.length);
        out.add(code);
        out.addInt(id);
        out.add(size >>> 8);
        out.add(size);
    }

    private static void randomBytes(SplittableRandom rnd, Bytes out, int n) {
        out.ensure(n);
        for (int i = 0; i < n; i++) {
            out.data[out.length++] = (byte) rnd.nextInt(256);
        }
    }

    /** A size at or around the edges of {@code kind}'s range (possibly outside it), or anywhere in 0-65535. */
    private static int edgeSize(SplittableRandom rnd, FrameKind kind) {
        int size = switch (rnd.nextInt(7)) {
            case 0 -> kind.minPayload() - 1;
            case 1 -> kind.minPayload();
            case 2 -> kind.maxPayload();
            case 3 -> kind.maxPayload() + 1;
            case 4 -> 0;
            case 5 -> 0xFFFF;
            default -> kind.minPayload() + rnd.nextInt(Math.min(kind.maxPayload() - kind.minPayload(), 300) + 1);
        };
        size = Math.max(0, Math.min(0xFFFF, size));
        // keep the expensive sizes rare: a 64 KiB payload is only worth writing now and then
        return size > 2048 && rnd.nextInt(32) != 0 ? kind.minPayload() + rnd.nextInt(Math.min(kind.maxPayload()
                - kind.minPayload(), 300) + 1) : size;
    }

    private static void validFrame(SplittableRandom rnd, Bytes out) {
        FrameKind kind = KINDS[rnd.nextInt(KINDS.length)];
        int id = switch (rnd.nextInt(4)) {
            case 0 -> 0;
            case 1 -> 1 + rnd.nextInt(8);
            case 2 -> -1 - rnd.nextInt(2); // 0xFFFFFFFF, 0xFFFFFFFE
            default -> rnd.nextInt();
        };
        int span = kind.maxPayload() - kind.minPayload();
        int size;
        if (span == 0) {
            size = kind.minPayload();
        } else if (rnd.nextInt(1000) == 0) {
            size = kind.maxPayload();
        } else {
            size = kind.minPayload() + rnd.nextInt(Math.min(span, rnd.nextInt(10) == 0 ? 2000 : 40) + 1);
        }
        header(out, kind.code(), id, size);
        switch (kind) {
            case WINDOW -> out.addInt(rnd.nextInt(4) == 0 ? rnd.nextInt() : 1 + rnd.nextInt(1 << 20));
            case OPEN -> {
                out.addInt(1 + rnd.nextInt(4));
                out.addInt(Protocol.MIN_WINDOW + rnd.nextInt(1 << 20));
                for (int i = 8; i < size; i++) {
                    out.add("0123456789.:[]abcdef".charAt(rnd.nextInt(20)));
                }
            }
            case REGISTER, LOGIN, ERROR, CLOSE, TERMINATE -> {
                for (int i = 0; i < size; i++) {
                    out.add(rnd.nextInt(16) == 0 ? rnd.nextInt(256) : "abcxyz-019 '".charAt(rnd.nextInt(12)));
                }
            }
            default -> randomBytes(rnd, out, size);
        }
    }

    private static void mutate(SplittableRandom rnd, Bytes out) {
        int len = out.length;
        switch (rnd.nextInt(10)) {
            case 0 -> { // flip bits of one byte
                if (len > 0) {
                    out.data[rnd.nextInt(len)] ^= (byte) (1 << rnd.nextInt(8));
                }
            }
            case 1 -> { // overwrite one byte
                if (len > 0) {
                    out.data[rnd.nextInt(len)] = (byte) rnd.nextInt(256);
                }
            }
            case 2 -> out.length = rnd.nextInt(len + 1); // truncate
            case 3 -> { // duplicate a range somewhere
                if (len > 0) {
                    int from = rnd.nextInt(len);
                    int to = from + rnd.nextInt(Math.min(len - from, 64) + 1);
                    insert(out, rnd.nextInt(len + 1), Arrays.copyOfRange(out.data, from, to));
                }
            }
            case 4 -> { // splice in a fresh valid frame or garbage
                Bytes other = new Bytes();
                if (rnd.nextBoolean()) {
                    validFrame(rnd, other);
                } else {
                    randomBytes(rnd, other, 1 + rnd.nextInt(12));
                }
                insert(out, rnd.nextInt(len + 1), other.toArray());
            }
            case 5 -> { // delete a range
                if (len > 0) {
                    int from = rnd.nextInt(len);
                    int to = from + rnd.nextInt(Math.min(len - from, 16) + 1);
                    System.arraycopy(out.data, to, out.data, from, len - to);
                    out.length = len - (to - from);
                }
            }
            case 6, 7 -> { // a size field at an extreme, or just outside / on the edge of its kind's range
                int at = headerAt(rnd, out);
                if (at >= 0) {
                    FrameKind kind = FrameKind.of(out.data[at] & 0xFF);
                    int size = kind == null ? (rnd.nextBoolean() ? 0 : 0xFFFF) : edgeSize(rnd, kind);
                    if (rnd.nextInt(3) == 0) {
                        size = rnd.nextBoolean() ? 0 : 0xFFFF;
                    }
                    out.data[at + 5] = (byte) (size >>> 8);
                    out.data[at + 6] = (byte) size;
                }
            }
            case 8 -> { // another kind, known or not, keeping the size
                int at = headerAt(rnd, out);
                if (at >= 0) {
                    out.data[at] = (byte) (rnd.nextBoolean() ? rnd.nextInt(KINDS.length + 2) : rnd.nextInt(256));
                }
            }
            default -> { // an id at an extreme
                int at = headerAt(rnd, out);
                if (at >= 0 && at + 5 <= out.length) {
                    int id = switch (rnd.nextInt(3)) {
                        case 0 -> 0;
                        case 1 -> -1;
                        default -> Integer.MIN_VALUE;
                    };
                    out.data[at + 1] = (byte) (id >>> 24);
                    out.data[at + 2] = (byte) (id >>> 16);
                    out.data[at + 3] = (byte) (id >>> 8);
                    out.data[at + 4] = (byte) id;
                }
            }
        }
    }

    /** The offset of a frame header still wholly in the input, or -1 (earlier mutations may have moved it). */
    private static int headerAt(SplittableRandom rnd, Bytes out) {
        if (out.headers.isEmpty()) {
            return -1;
        }
        int at = out.headers.get(rnd.nextInt(out.headers.size()));
        return at + Protocol.HEADER_LENGTH <= out.length ? at : -1;
    }

    private static void insert(Bytes out, int at, byte[] bytes) {
        out.ensure(bytes.length);
        System.arraycopy(out.data, at, out.data, at + bytes.length, out.length - at);
        System.arraycopy(bytes, 0, out.data, at, bytes.length);
        out.length += bytes.length;
    }

    /**
     * Unpooled buffers that Netty's leak detector does not track (paranoid tracking records a stack trace on
     * every access, far too slow for 100,000 cases), each remembered so the case can check that all of them,
     * and so every slice of them, were released.
     */
    static final class TrackingAllocator extends AbstractByteBufAllocator {
        private final List<ByteBuf> allocated = new ArrayList<>();

        TrackingAllocator() {
            super(false);
        }

        @Override
        protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
            ByteBuf buf = new UnpooledHeapByteBuf(this, initialCapacity, maxCapacity);
            allocated.add(buf);
            return buf;
        }

        @Override
        protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
            ByteBuf buf = new UnpooledDirectByteBuf(this, initialCapacity, maxCapacity);
            allocated.add(buf);
            return buf;
        }

        @Override
        public boolean isDirectBufferPooled() {
            return false;
        }

        void assertAllReleased(String where) {
            List<String> leaked = new ArrayList<>();
            for (ByteBuf buf : allocated) {
                if (buf.refCnt() != 0) {
                    leaked.add(buf.toString());
                    buf.release(buf.refCnt());
                }
            }
            allocated.clear();
            if (!leaked.isEmpty()) {
                fail(where + ": LEAK: " + leaked.size() + " buffer(s) not released: " + leaked);
            }
        }
    }

    private static final class Stats {
        long inputs;
        long bytes;
        long chunks;
        long handshakes;
        long frames;
        long handshakeErrors;
        long frameErrors;
        long clean;
        long paranoidNanos;
        final Map<FrameKind, Long> byKind = new EnumMap<>(FrameKind.class);
    }
}
