package io.diglett.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Seeded fuzzing of the typed payload decoders of {@link Requests} and {@link Signals}: 100,000 payloads, each of a
 * size its kind allows (what {@link FrameDecoder} lets through), random or a valid encoding with a few bytes
 * changed, are decoded by every decoder of their kind. Nothing but a {@link ProtocolException} may come out; the
 * binary payloads (Open, Ok to Open, Window, Ping, Pong) that decode re-encode to the very same bytes, so a
 * decoder reads exactly the layout the encoder writes. Reproduce a failure with
 * {@code -Ddiglett.fuzz.seed=S -Ddiglett.fuzz.case=N}, as printed.
 */
class PayloadDecoderFuzzTest {

    private static final long DEFAULT_SEED = 0x5EED0F0A11L;
    private static final int CASES = 100_000;
    private static final UnpooledByteBufAllocator ALLOC = UnpooledByteBufAllocator.DEFAULT;
    private static final FrameKind[] KINDS = {FrameKind.OPEN, FrameKind.OK, FrameKind.REGISTER, FrameKind.LOGIN,
        FrameKind.ERROR, FrameKind.CLOSE, FrameKind.TERMINATE, FrameKind.REFUSE, FrameKind.WINDOW, FrameKind.PING,
        FrameKind.PONG};

    private final Map<FrameKind, int[]> outcomes = new EnumMap<>(FrameKind.class);

    @Test
    void decodersThrowOnlyProtocolExceptionsAndReadWhatTheEncodersWrite() {
        long seed = Long.getLong("diglett.fuzz.seed", DEFAULT_SEED);
        int only = Integer.getInteger("diglett.fuzz.case", -1);
        for (int i = 0; i < CASES; i++) {
            if (only < 0 || only == i) {
                runCase(seed, i);
            }
        }
        StringBuilder summary = new StringBuilder();
        outcomes.forEach((kind, counts) -> summary.append(' ').append(kind).append('=').append(counts[0])
                .append('/').append(counts[1]));
        System.out.println("PayloadDecoderFuzzTest seed=" + seed + ", decoded/refused by kind:" + summary);
        if (only < 0) {
            // the generator must keep reaching both outcomes of the structured decoders
            for (FrameKind kind : new FrameKind[] {FrameKind.OPEN, FrameKind.OK, FrameKind.REGISTER}) {
                int[] counts = outcomes.get(kind);
                assertTrue(counts[0] >= 1_000 && counts[1] >= 1_000, kind + ": " + counts[0] + "/" + counts[1]);
            }
        }
    }

    private void runCase(long seed, int index) {
        SplittableRandom rnd = DecoderFuzzTest.caseRandom(seed, index);
        FrameKind kind = KINDS[rnd.nextInt(KINDS.length)];
        byte[] payload = rnd.nextInt(3) == 0 ? random(rnd, kind) : mutated(rnd, kind, valid(rnd, kind));
        String where = "seed=" + seed + " case=" + index + " " + kind + " " + ByteBufUtil.hexDump(payload);
        switch (kind) {
            case OPEN -> check(where, kind, payload, Requests.Open::decode,
                    open -> open.encode(ALLOC, 1, Protocol.VERSION));
            case OK -> {
                check(where, kind, payload, Requests.Opened::decode, opened -> opened.encode(ALLOC, 1));
                check(where, kind, payload, Requests.Registered::decode, null);
            }
            case REGISTER -> check(where, kind, payload, Requests.Register::decode, null);
            case LOGIN -> check(where, kind, payload, Requests.Login::decode, null);
            case WINDOW -> check(where, kind, payload, Signals.WindowUpdate::decode, w -> w.encode(ALLOC, 1));
            case PING -> check(where, kind, payload, Signals.Ping::decode, ping -> ping.encode(ALLOC));
            case PONG -> check(where, kind, payload, Signals.Pong::decode, pong -> pong.encode(ALLOC));
            default -> check(where, kind, payload, Signals.Reason::decode, null);
        }
    }

    /** Decodes; a result that has an encoder must encode to {@code payload} again. */
    private <T> void check(String where, FrameKind kind, byte[] payload, Function<Frame, T> decoder,
                           Function<T, Frame> encoder) {
        Frame frame = new Frame(kind, 1, Unpooled.wrappedBuffer(payload));
        T decoded;
        try {
            decoded = decoder.apply(frame);
        } catch (ProtocolException e) {
            outcomes.computeIfAbsent(kind, k -> new int[2])[1]++;
            return;
        } catch (RuntimeException e) {
            throw new AssertionError(where + ": only ProtocolException may come out of a decoder, got " + e, e);
        } finally {
            frame.release();
        }
        outcomes.computeIfAbsent(kind, k -> new int[2])[0]++;
        if (encoder != null) {
            Frame again = encoder.apply(decoded);
            try {
                assertEquals(ByteBufUtil.hexDump(payload), ByteBufUtil.hexDump(again.content()),
                        where + ": " + decoded);
            } finally {
                again.release();
            }
        }
    }

    private static byte[] random(SplittableRandom rnd, FrameKind kind) {
        int span = Math.min(kind.maxPayload(), kind.minPayload() + 80) - kind.minPayload();
        byte[] b = new byte[kind.minPayload() + rnd.nextInt(span + 1)];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) rnd.nextInt(256);
        }
        return b;
    }

    /** A payload the encoders could have written. */
    private static byte[] valid(SplittableRandom rnd, FrameKind kind) {
        Frame frame = switch (kind) {
            case OPEN -> new Requests.Open(rnd.nextInt(), Protocol.MIN_WINDOW + rnd.nextInt(1 << 24),
                    address(rnd), address(rnd)).encode(ALLOC, 1, Protocol.VERSION);
            case OK -> rnd.nextBoolean() ? Frame.opened(ALLOC, 1, rnd.nextInt())
                    : Frame.registered(ALLOC, 1, rnd.nextInt(65536), List.of("https://a.example"));
            case REGISTER -> Frame.register(ALLOC, 1, "web", rnd.nextInt(4));
            case LOGIN -> Frame.login(ALLOC, "tøken");
            case WINDOW -> Frame.window(ALLOC, 1, rnd.nextInt());
            case PING -> Frame.ping(ALLOC, rnd.nextLong());
            case PONG -> Frame.pong(ALLOC, rnd.nextLong());
            default -> new Signals.Reason("backend refused").encode(ALLOC, kind, 1);
        };
        try {
            return ByteBufUtil.getBytes(frame.content());
        } finally {
            frame.release();
        }
    }

    private static InetSocketAddress address(SplittableRandom rnd) {
        int family = rnd.nextInt(3);
        if (family == 0) {
            return null;
        }
        byte[] ip = new byte[family == 1 ? 4 : 16];
        for (int i = 0; i < ip.length; i++) {
            ip[i] = (byte) rnd.nextInt(256);
        }
        if (ip.length == 16 && ip[0] == 0) {
            ip[0] = 0x20; // not IPv4-mapped: that one reads back as IPv4, another encoding
        }
        try {
            return new InetSocketAddress(InetAddress.getByAddress(ip), rnd.nextInt(65536));
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    /** {@code valid} with a few bytes changed, cut or added, kept within the kind's size range. */
    private static byte[] mutated(SplittableRandom rnd, FrameKind kind, byte[] valid) {
        byte[] b = valid;
        int mutations = rnd.nextInt(3);
        for (int m = 0; m < mutations; m++) {
            switch (rnd.nextInt(3)) {
                case 0 -> {
                    if (b.length > 0) {
                        b[rnd.nextInt(b.length)] = (byte) (rnd.nextBoolean() ? rnd.nextInt(256) : rnd.nextInt(8));
                    }
                }
                case 1 -> b = Arrays.copyOf(b, Math.max(kind.minPayload(), b.length - 1 - rnd.nextInt(4)));
                default -> b = Arrays.copyOf(b, Math.min(kind.maxPayload(), b.length + 1 + rnd.nextInt(4)));
            }
        }
        return b;
    }

    @Test
    void theMutatorKeepsSizesWithinTheKindsRange() {
        SplittableRandom rnd = new SplittableRandom(1);
        for (int i = 0; i < 1_000; i++) {
            FrameKind kind = KINDS[rnd.nextInt(KINDS.length)];
            byte[] b = mutated(rnd, kind, valid(rnd, kind));
            if (b.length < kind.minPayload() || b.length > kind.maxPayload()) {
                fail(kind + " payload of " + b.length + " bytes");
            }
        }
    }
}
