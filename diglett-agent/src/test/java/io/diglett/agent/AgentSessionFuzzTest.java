package io.diglett.agent;

import io.diglett.common.HostPort;
import io.diglett.common.transport.Transport;
import static io.diglett.protocol.testing.Fuzzing.describeFrame;
import static io.diglett.protocol.testing.Fuzzing.randomBytes;
import static io.diglett.protocol.testing.Fuzzing.readInt;
import static io.diglett.protocol.testing.Fuzzing.intBytes;
import static io.diglett.protocol.testing.Fuzzing.text;
import static io.diglett.protocol.testing.Fuzzing.frame;
import static io.diglett.protocol.testing.Fuzzing.handshake;
import static io.diglett.protocol.testing.Fuzzing.caseRandom;
import static io.diglett.protocol.testing.Fuzzing.decodeFrames;
import static io.diglett.protocol.testing.Fuzzing.onShallowStack;
import static io.diglett.protocol.testing.Fuzzing.releaseAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameDecoder;
import io.diglett.protocol.FrameEncoder;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Handshake;
import io.diglett.protocol.HandshakeDecoder;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.ProtocolException;
import io.diglett.protocol.Requests;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.testing.Fuzzing.LogCapture;
import io.diglett.protocol.testing.Fuzzing.TrackingAllocator;
import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledDirectByteBuf;
import io.netty.buffer.UnpooledHeapByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Seeded fuzzing of {@link AgentSession}: each case is a fresh plaintext link pipeline (as {@link Agent} builds
 * it) on an EmbeddedChannel, fed a gateway's side of the conversation in random chunks: handshake, Ok to the
 * Login, Ok with a port to each Register, Ok to FinishRegister, then Open, stream frames, Ping, Pong, Error,
 * Terminate and garbage; frames are dropped, duplicated, swapped and byte-mutated, and some transcripts stop
 * early. An Open makes the agent connect its backend with a NIO Bootstrap on the EmbeddedChannel's event loop,
 * which cannot host it: the connect fails at once and the agent must answer Error for that stream.
 *
 * <p>After every case: no exception reached the end of the pipeline or the log (stack traces, "internal
 * error", "was thrown by"); what the agent wrote parses as its handshake and valid frames, starting with Login;
 * every Open it accepted was answered; no "internal error" was sent; a connection Error is the last frame and
 * is followed by the close; a closed link ended with such an Error unless the gateway ended it (Terminate, a
 * connection Error, a refusal before the session was active, another protocol version); every Ping read while
 * the link was up got its Pong; an unfinished handshake times out; the session reports its end; every buffer
 * is released.
 *
 * <p>Buffers: most cases allocate from a {@link TrackingAllocator} that checks every buffer after the case;
 * every fiftieth uses Netty's default allocator, watched by the build's paranoid leak detector and
 * {@code LeakGuard}.
 *
 * <p>Reproduce a failure with the seed and case printed in the message: {@code mvn test -pl diglett-agent -am
 * -Dtest=AgentSessionFuzzTest -Dsurefire.failIfNoSpecifiedTests=false -Ddiglett.fuzz.seed=S
 * -Ddiglett.fuzz.case=N}. Other switches: {@code -Ddiglett.fuzz.cases=N} (number of cases; a new seed explores
 * new transcripts), {@code -Ddiglett.fuzz.trace=true} (where leaked buffers were allocated),
 * {@code -Ddiglett.fuzz.paranoid=true} (Netty's allocator and leak detector in every case),
 */
class AgentSessionFuzzTest {

    private static final long DEFAULT_SEED = 0xA6E27F022L;
    private static final int DEFAULT_CASES = 5_000;
    /** Every n-th case uses Netty's default (paranoid-tracked) allocator, the others count buffers exactly. */
    private static final int PARANOID_EVERY = 50;
    private static final FrameKind[] KINDS = FrameKind.values();
    private static final InetSocketAddress BACKEND = new InetSocketAddress(InetAddress.getLoopbackAddress(), 9);
    private static final AgentConfig CONFIG = AgentConfig.of(new HostPort("127.0.0.1", 20000), "", "name",
            new HostPort("127.0.0.1", 9), TrustSettings.plain());

    private final Stats stats = new Stats();

    @Test
    void agentSessionSurvivesRandomAndMutatedGatewayTranscripts() {
        long seed = Long.getLong("diglett.fuzz.seed", DEFAULT_SEED);
        int cases = Integer.getInteger("diglett.fuzz.cases", DEFAULT_CASES);
        int only = Integer.getInteger("diglett.fuzz.case", -1);
        LogCapture logs = LogCapture.start();
        long started = System.nanoTime();
        try {
            onShallowStack(() -> {
                for (int i = 0; i < cases; i++) {
                    if (only < 0 || only == i) {
                        runCase(seed, i, logs);
                    }
                }
            });
        } finally {
            logs.stop();
        }
        long millis = (System.nanoTime() - started) / 1_000_000;
        System.out.printf("AgentSessionFuzzTest seed=%d: %d cases in %d ms%n"
                        + "  %d frames generated, %d reached the session: %s%n"
                        + "  %d reached ACTIVE, %d Opens answered; the agent wrote %d frames: %s%n"
                        + "  %d links closed with Error(0), %d ended by the gateway, %d timed out, %d still open%n"
                        + "  %d decode errors after an in-read close (EmbeddedChannel artifact)%n"
                        + "  connection errors: %s%n",
                seed, stats.cases, millis, stats.framesGenerated, stats.framesSeen, stats.seenByKind,
                stats.active, stats.opensAnswered, stats.framesWritten, stats.writtenByKind,
                stats.closedWithError, stats.endedByGateway, stats.timedOut, stats.stillOpen,
                stats.pipelineArtifacts, stats.closeReasons);
        if (only < 0 && cases >= DEFAULT_CASES) {
            String why = "generator coverage, seed=" + seed;
            // the bar: at least 100,000 random and mutated frames fed to the session state machine
            assertTrue(stats.framesGenerated >= 100_000, why + ": frames generated " + stats.framesGenerated);
            assertTrue(stats.framesSeen >= 100_000, why + ": frames seen " + stats.framesSeen);
            assertTrue(stats.active >= cases / 3, why + ": ACTIVE " + stats.active);
            assertTrue(stats.opensAnswered >= cases, why + ": Opens answered " + stats.opensAnswered);
            assertTrue(stats.closedWithError >= cases / 5, why + ": closed with Error " + stats.closedWithError);
            assertTrue(stats.stillOpen >= cases / 10, why + ": still open " + stats.stillOpen);
            assertTrue(stats.timedOut >= 5, why + ": timed out " + stats.timedOut);
            for (FrameKind kind : KINDS) {
                assertTrue(stats.seenByKind.getOrDefault(kind, 0L) >= 5, why + ": " + stats.seenByKind);
            }
        }
    }

    // ------------------------------------------------------------------ one case

    private void runCase(long seed, int index, LogCapture logs) {
        String where = "seed=" + seed + " case=" + index + " (rerun with -Ddiglett.fuzz.seed=" + seed
                + " -Ddiglett.fuzz.case=" + index + ")";
        logs.reset();
        boolean paranoid = index % PARANOID_EVERY == 0 || Boolean.getBoolean("diglett.fuzz.paranoid");
        Case c = new Case(caseRandom(seed, index), paranoid ? null : new TrackingAllocator());
        try {
            try {
                c.run();
            } finally {
                c.cleanUp();
            }
            String log = logs.text();
            if (log.contains("internal error") || log.contains("was thrown by") || log.contains("\tat ")) {
                fail("an exception escaped a handler; the log says:\n" + log);
            }
            if (c.tracker != null) {
                c.tracker.assertAllReleased();
            }
        } catch (Throwable e) {
            String message = e instanceof AssertionError ? String.valueOf(e.getMessage()) : e.toString();
            throw new AssertionError(where + ": " + message + "\n  transcript: " + c.describe()
                    + "\n  log:\n" + tail(logs.text(), 4000), e);
        }
        stats.cases++;
    }

    private static String tail(String s, int n) {
        return s.length() <= n ? s : "..." + s.substring(s.length() - n);
    }

    /** One fuzz case: its transcript, link and what the agent wrote. */
    private final class Case {
        final SplittableRandom feedRnd;
        final TrackingAllocator tracker;
        final ByteBufAllocator alloc;
        final List<AgentSession.Target> targets = new ArrayList<>();
        final List<Object> steps;
        final Spy spy = new Spy();
        final CompletableFuture<List<Registration>> online = new CompletableFuture<>();
        final CompletableFuture<LinkEnd> ended = new CompletableFuture<>();
        final ByteArrayOutputStream written = new ByteArrayOutputStream();
        final int chunkMode;
        EmbeddedChannel link;

        Case(SplittableRandom rnd, TrackingAllocator tracker) {
            this.tracker = tracker;
            this.alloc = tracker != null ? tracker : ByteBufAllocator.DEFAULT;
            targets.add(new AgentSession.Target(1, CONFIG.tunnels().get(0), BACKEND));
            if (rnd.nextInt(3) == 0) {
                targets.add(new AgentSession.Target(2, new TunnelSpec("other", new HostPort("127.0.0.1", 9)),
                        BACKEND));
            }
            this.steps = new Generator(rnd).transcript();
            this.feedRnd = rnd.split();
            this.chunkMode = feedRnd.nextInt(4);
        }

        void run() {
            AgentSession session = new AgentSession(CONFIG, Transport.NIO, targets, false, java.util.UUID.randomUUID(), online, ended,
                    new AgentStatus(CONFIG, java.time.Clock.systemUTC()), io.diglett.protocol.mux.FlowLimits.unbounded());
            link = new EmbeddedChannel(new ChannelInitializer<>() {
                @Override
                protected void initChannel(Channel ch) {
                    ch.config().setAllocator(alloc);
                    ch.pipeline()
                            .addLast(HandlerNames.HANDSHAKE, new HandshakeDecoder())
                            .addLast(HandlerNames.FRAME_DECODER, new FrameDecoder())
                            .addLast("fuzz-spy", spy)
                            .addLast(HandlerNames.FRAME_ENCODER, FrameEncoder.INSTANCE)
                            .addLast(HandlerNames.SESSION, session);
                }
            });
            link.freezeTime();
            drain();
            ByteArrayOutputStream pending = new ByteArrayOutputStream();
            for (Object step : steps) {
                if (step instanceof byte[] frame) {
                    pending.writeBytes(frame);
                    stats.framesGenerated += step == steps.get(0) ? 0 : 1; // the handshake is no frame
                } else {
                    deliver(pending.toByteArray());
                    pending.reset();
                    drain(); // TASKS: an event-loop turn between two reads
                }
            }
            deliver(pending.toByteArray());
            drain();

            boolean open = link.isOpen();
            boolean active = isActive();
            List<Frame> frames = writtenFrames();
            try {
                checkWritten(frames, open);
                if (feedRnd.nextInt(3) == 0) {
                    // the handshake timer: fires unless the session is active
                    link.advanceTimeBy(CONFIG.handshakeTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
                    drain();
                    if (open && !active) {
                        assertTrue(!link.isOpen(), "the handshake timer did not close a link that is not active");
                        stats.timedOut++;
                    } else if (open) {
                        assertTrue(link.isOpen(), "the handshake timer closed an active link");
                    }
                }
            } finally {
                releaseAll(frames);
            }
            if (spy.reachedActive) {
                stats.active++;
            }
            if (link.isOpen()) {
                stats.stillOpen++;
            }
            try {
                link.finishAndReleaseAll();
            } catch (Throwable t) {
                if (!closedPipelineArtifact(t)) {
                    throw new AssertionError("an exception reached the end of the link pipeline: " + t, t);
                }
            }
            assertTrue(ended.isDone(), "the session did not report the end of its link");
            assertTrue(online.isDone(), "the session left its online future pending after the link closed");
        }

        private boolean isActive() {
            return online.isDone() && !online.isCompletedExceptionally();
        }

        /** Feeds bytes in random chunks while the link is open. */
        private void deliver(byte[] bytes) {
            int pos = 0;
            while (pos < bytes.length && link.isOpen()) {
                int n = switch (chunkMode) {
                    case 0 -> bytes.length - pos;
                    case 1 -> 1 + feedRnd.nextInt(Math.min(bytes.length - pos, 8));
                    case 2 -> 1 + feedRnd.nextInt(Math.min(bytes.length - pos, 200));
                    default -> 1 + feedRnd.nextInt(bytes.length - pos);
                };
                ByteBuf chunk = alloc.buffer(n).writeBytes(bytes, pos, n);
                pos += n;
                try {
                    link.writeInbound(chunk);
                } catch (Throwable t) {
                    if (!closedPipelineArtifact(t)) {
                        throw new AssertionError("an exception escaped the link pipeline: " + t, t);
                    }
                }
                drain();
            }
        }

        /**
         * Whether {@code t}, thrown at the end of the link pipeline, is an EmbeddedChannel artifact: its
         * {@code close()} runs pending tasks at once, so a session closing the link in the middle of a read
         * has its pipeline torn down before the decoders finish that read, and a decode error that follows
         * reaches the pipeline's end instead of the session (which would ignore it: the link is gone). On a
         * real channel the pipeline outlives the read.
         */
        private boolean closedPipelineArtifact(Throwable t) {
            if (t instanceof DecoderException && !link.isOpen() && link.pipeline().get(HandlerNames.SESSION) == null) {
                stats.pipelineArtifacts++;
                return true;
            }
            return false;
        }

        /** Runs pending tasks and moves what the agent wrote into {@link #written}. */
        private void drain() {
            link.runPendingTasks();
            try {
                link.checkException();
            } catch (Throwable t) {
                if (!closedPipelineArtifact(t)) {
                    throw new AssertionError("an exception reached the end of the link pipeline: " + t, t);
                }
            }
            Object msg;
            while ((msg = link.readOutbound()) != null) {
                try {
                    if (msg instanceof ByteBuf buf) {
                        written.writeBytes(ByteBufUtil.getBytes(buf));
                    } else {
                        fail("the agent wrote a " + msg.getClass().getName() + " past the encoder: " + msg);
                    }
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            }
        }

        /** Everything the agent wrote, decoded; its handshake checked and skipped. */
        private List<Frame> writtenFrames() {
            byte[] bytes = written.toByteArray();
            assertTrue(bytes.length >= Protocol.HANDSHAKE_LENGTH && readInt(bytes, 0) == Protocol.MAGIC
                    && bytes[4] == Protocol.VERSION, "the agent must open with its handshake");
            return decodeFrames(bytes, Protocol.HANDSHAKE_LENGTH);
        }

        private void checkWritten(List<Frame> frames, boolean open) {
            long[] pongs = frames.stream().filter(f -> f.kind() == FrameKind.PONG)
                    .mapToLong(f -> f.content().getLong(f.content().readerIndex())).toArray();
            List<Integer> answered = new ArrayList<>();
            for (int i = 0; i < frames.size(); i++) {
                Frame frame = frames.get(i);
                stats.framesWritten++;
                stats.writtenByKind.merge(frame.kind(), 1L, Long::sum);
                switch (frame.kind()) {
                    case LOGIN -> assertEquals(0, i, "Login must be the agent's first frame: " + frames);
                    case REGISTER -> assertTrue(targets.stream().anyMatch(t -> t.registration() == frame.id()),
                            "Register with an id of no target: " + frame);
                    case OK, ERROR -> {
                        if (frame.id() != Protocol.CONNECTION_ID) {
                            answered.add(frame.id());
                        }
                    }
                    default -> {
                    }
                }
                if (frame.kind() == FrameKind.ERROR || frame.kind() == FrameKind.CLOSE
                        || frame.kind() == FrameKind.TERMINATE) {
                    assertTrue(!frame.text().startsWith("internal error"), "the agent sent " + frame + ": "
                            + frame.text());
                }
                if (endsLink(frame)) {
                    assertEquals(frames.size() - 1, i, "frames after the connection Error '" + frame.text() + "': "
                            + frames.subList(i, frames.size()));
                    assertTrue(!open, "the link stayed open after the connection Error '" + frame.text() + "'");
                }
            }
            stats.opensAnswered += answered.size();
            if (open) {
                // every Open the session took while the link was up was answered (the connect fails at once)
                assertEquals(spy.opens.toString(), answered.toString(), "each Open is answered, in order");
            }
            if (!open) {
                Frame last = frames.isEmpty() ? null : frames.get(frames.size() - 1);
                boolean error = last != null && endsLink(last);
                if (error) {
                    stats.closedWithError++;
                    stats.closeReasons.merge(last.text().replaceAll("[0-9]+", "N").replaceAll("'[^']*'", "'X'"),
                            1L, Long::sum);
                } else if (spy.peerEnded) {
                    stats.endedByGateway++;
                } else {
                    fail("the link was closed without a connection Error; last frame written: " + last);
                }
            }
            if (!spy.peerEnded) {
                assertEquals(Arrays.toString(spy.pingsWhileOpen()), Arrays.toString(pongs),
                        "every Ping read while the link was up is answered by a Pong with its bytes, in order");
            }
        }

        void cleanUp() {
            if (link != null) {
                try {
                    link.finishAndReleaseAll();
                } catch (Throwable ignored) {
                    // reported by the case already
                }
            }
        }

        String describe() {
            StringBuilder sb = new StringBuilder();
            sb.append(targets.size()).append(" target(s):");
            int shown = 0;
            for (Object step : steps) {
                if (shown++ == 200) {
                    sb.append(" ...");
                    break;
                }
                sb.append(' ').append(step instanceof byte[] b ? describeFrame(b) : String.valueOf(step));
            }
            return sb.toString();
        }

        /** Between the frame decoder and the session: what reached the session, and when. */
        private final class Spy extends ChannelInboundHandlerAdapter {
            boolean peerEnded;
            boolean reachedActive;
            boolean openZero;
            final List<Long> pings = new ArrayList<>();
            final List<Integer> opens = new ArrayList<>();

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                boolean open = ctx.channel().isOpen();
                boolean active = isActive();
                if (msg instanceof Handshake handshake) {
                    peerEnded |= open && !handshake.compatible();
                } else if (msg instanceof Frame frame) {
                    stats.framesSeen++;
                    stats.seenByKind.merge(frame.kind(), 1L, Long::sum);
                    FrameKind kind = frame.kind();
                    if (open && (kind == FrameKind.TERMINATE
                            || (kind == FrameKind.REFUSE && frame.id() == Protocol.CONNECTION_ID)
                            || (kind == FrameKind.ERROR && (frame.id() == Protocol.CONNECTION_ID || !active)))) {
                        peerEnded = true; // the gateway ended the session or refused us: the agent just closes
                    }
                    if (kind == FrameKind.PING && open) {
                        pings.add(frame.content().getLong(frame.content().readerIndex()));
                    }
                    openZero |= kind == FrameKind.OPEN && frame.id() == Protocol.CONNECTION_ID;
                    if (kind == FrameKind.OPEN && open && active && !peerEnded) {
                        Requests.Open request = null;
                        try {
                            request = Requests.Open.decode(frame);
                        } catch (ProtocolException malformed) {
                            // the agent ends the link; nothing to answer
                        }
                        int registration = request == null ? 0 : request.registration();
                        if (request != null && targets.stream().anyMatch(t -> t.registration() == registration)) {
                            opens.add(frame.id());
                        }
                    }
                }
                ctx.fireChannelRead(msg);
                reachedActive |= isActive();
            }

            long[] pingsWhileOpen() {
                return pings.stream().mapToLong(Long::longValue).toArray();
            }
        }

        /** The gateway's side of a session, as a list of frames (byte arrays) and TASKS markers. */
        private final class Generator {
            final SplittableRandom rnd;
            final List<Object> out = new ArrayList<>();
            int opened;

            Generator(SplittableRandom rnd) {
                this.rnd = rnd;
            }

            List<Object> transcript() {
                int h = rnd.nextInt(100);
                if (h < 92) {
                    out.add(handshake(Protocol.VERSION));
                } else if (h < 95) {
                    out.add(handshake(rnd.nextBoolean() ? 1 : rnd.nextInt(256)));
                } else if (h < 98) {
                    out.add(randomBytes(rnd, 1 + rnd.nextInt(30)));
                } else {
                    out.add("HTTP/1.1 400 Bad Request\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                }
                if (rnd.nextInt(10) == 0) {
                    out.add(ping());
                }
                int login = rnd.nextInt(40);
                // a version-5 gateway's Ok to Login names the session: a session id and a join key, 48 bytes
                out.add(login == 0 ? text(FrameKind.ERROR, 0, "login refused: bad token")
                        : login == 1 ? anyFrame() : login == 2 ? frame(FrameKind.OK, 0, new byte[0])
                        : frame(FrameKind.OK, 0, randomBytes(rnd, 48)));
                List<Integer> registrations = new ArrayList<>();
                targets.forEach(t -> registrations.add(t.registration()));
                if (rnd.nextBoolean()) {
                    java.util.Collections.reverse(registrations);
                }
                for (int registration : registrations) {
                    int r = rnd.nextInt(40);
                    if (r == 0) {
                        out.add(text(FrameKind.ERROR, registration, "name 'name' is already in use"));
                    } else if (r == 1) {
                        out.add(frame(FrameKind.OK, registration, new byte[0])); // no port
                    } else {
                        out.add(frame(FrameKind.OK, registration, randomBytes(rnd, 2)));
                    }
                    if (rnd.nextInt(15) == 0) {
                        out.add(ping());
                    }
                    if (rnd.nextInt(6) == 0) {
                        out.add("TASKS");
                    }
                }
                out.add(frame(FrameKind.OK, 0, new byte[0])); // to FinishRegister
                int n = rnd.nextInt(8) == 0 ? rnd.nextInt(5) : 20 + rnd.nextInt(60);
                boolean chaos = rnd.nextInt(4) == 0;
                for (int i = 0; i < n; i++) {
                    if (rnd.nextInt(12) == 0) {
                        out.add("TASKS");
                    }
                    out.add(chaos || rnd.nextInt(50) == 0 ? activeFrame() : sensibleFrame());
                }
                if (rnd.nextInt(5) < 2) {
                    mutate();
                }
                if (rnd.nextInt(8) == 0) {
                    // only a prefix: the gateway stalls (often before the session is active)
                    return new ArrayList<>(out.subList(0, 1 + rnd.nextInt(Math.min(out.size(), 6))));
                }
                return out;
            }

            private int registration() {
                return switch (rnd.nextInt(25)) {
                    case 0 -> 0;
                    case 1 -> 3 + rnd.nextInt(100);
                    default -> 1 + rnd.nextInt(targets.size());
                };
            }

            private int streamId() {
                return switch (rnd.nextInt(20)) {
                    case 0 -> 0;
                    case 1 -> rnd.nextInt();
                    default -> 1 + rnd.nextInt(opened + 1);
                };
            }

            private byte[] open(int id) {
                int window = switch (rnd.nextInt(25)) {
                    case 0 -> rnd.nextInt(Protocol.MIN_WINDOW);
                    case 1 -> -1;
                    case 2 -> Integer.MAX_VALUE;
                    default -> Protocol.MIN_WINDOW + rnd.nextInt(1 << 20);
                };
                return frame(FrameKind.OPEN, id, openPayload(registration(), window, rnd.nextInt(20) == 0));
            }

            /**
             * An Open's payload in this version's layout: two addresses, each unknown, IPv4 or IPv6 with a port;
             * {@code malformed}: with an unknown family, a missing byte or one too many.
             */
            private byte[] openPayload(int registration, int window, boolean malformed) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                out.writeBytes(intBytes(registration));
                out.writeBytes(intBytes(window));
                for (int a = 0; a < 2; a++) {
                    int family = new int[] {0, 4, 4, 6}[rnd.nextInt(4)];
                    out.write(family);
                    out.writeBytes(randomBytes(rnd, family == 0 ? 0 : family == 4 ? 4 + 2 : 16 + 2));
                }
                byte[] payload = out.toByteArray();
                if (!malformed) {
                    return payload;
                }
                return switch (rnd.nextInt(3)) {
                    case 0 -> {
                        payload[8] = (byte) (7 + rnd.nextInt(249)); // no such family
                        yield payload;
                    }
                    case 1 -> Arrays.copyOf(payload, payload.length - 1);
                    default -> Arrays.copyOf(payload, payload.length + 1);
                };
            }

            /**
             * A frame a gateway following the protocol could send now: an Open for one of our registrations, or
             * frames for streams the agent has already refused (the gateway may not have seen the refusal yet;
             * they are dropped), Ping, Pong, rarely Terminate.
             */
            private byte[] sensibleFrame() {
                int k = rnd.nextInt(1000);
                int id = 1 + rnd.nextInt(opened + 1);
                if (k < 250) {
                    opened++;
                    return frame(FrameKind.OPEN, opened, openPayload(1 + rnd.nextInt(targets.size()),
                            Protocol.MIN_WINDOW + rnd.nextInt(1 << 20), false));
                } else if (k < 500) {
                    int size = 1 + rnd.nextInt(rnd.nextBoolean() ? 64 : 1400);
                    return frame(FrameKind.PAYLOAD, id, randomBytes(rnd, size));
                } else if (k < 600) {
                    return frame(FrameKind.WINDOW, id, intBytes(1 + rnd.nextInt(1 << 18)));
                } else if (k < 650) {
                    return frame(FrameKind.FIN, id, new byte[0]);
                } else if (k < 700) {
                    return text(FrameKind.CLOSE, id, rnd.nextBoolean() ? "" : "client went away");
                } else if (k < 930) {
                    return ping();
                } else if (k < 997) {
                    return frame(FrameKind.PONG, 0, randomBytes(rnd, 8));
                }
                return text(FrameKind.TERMINATE, 0, "gateway shutting down");
            }

            private byte[] activeFrame() {
                int k = rnd.nextInt(1000);
                if (k < 250) {
                    opened++;
                    return open(rnd.nextInt(10) == 0 ? streamId() : opened);
                }
                int id = streamId();
                if (k < 420) {
                    int size = rnd.nextInt(20) == 0 ? 1 + rnd.nextInt(Protocol.MAX_PAYLOAD) : 1 + rnd.nextInt(600);
                    return frame(FrameKind.PAYLOAD, id, randomBytes(rnd, size));
                } else if (k < 520) {
                    int increment = rnd.nextInt(10) == 0 ? (rnd.nextBoolean() ? 0 : -1) : 1 + rnd.nextInt(1 << 18);
                    return frame(FrameKind.WINDOW, id, intBytes(increment));
                } else if (k < 570) {
                    return frame(FrameKind.FIN, id, new byte[0]);
                } else if (k < 630) {
                    return text(FrameKind.CLOSE, id, rnd.nextBoolean() ? "" : "client went away");
                } else if (k < 800) {
                    return ping();
                } else if (k < 860) {
                    return frame(FrameKind.PONG, 0, randomBytes(rnd, 8));
                } else if (k < 880) {
                    return text(FrameKind.ERROR, rnd.nextInt(4) == 0 ? 0 : id, "gateway complains");
                } else if (k < 885) {
                    return text(FrameKind.TERMINATE, 0, rnd.nextBoolean() ? "" : "gateway shutting down");
                } else if (k < 905) {
                    return frame(FrameKind.OK, id, rnd.nextBoolean() ? new byte[0] : randomBytes(rnd, 4));
                } else if (k < 940) {
                    return anyFrame();
                }
                return frame(FrameKind.PAYLOAD, 1 + rnd.nextInt(opened + 1), randomBytes(rnd, 1 + rnd.nextInt(100)));
            }

            private byte[] ping() {
                return frame(FrameKind.PING, 0, randomBytes(rnd, 8));
            }

            /** Any kind with a size in its range and random content: stray Login, Register, FinishRegister... */
            private byte[] anyFrame() {
                FrameKind kind = KINDS[rnd.nextInt(KINDS.length)];
                int size = kind.minPayload() + rnd.nextInt(Math.min(kind.maxPayload() - kind.minPayload(), 70) + 1);
                return frame(kind, rnd.nextInt(3) == 0 ? 0 : streamId(), randomBytes(rnd, size));
            }

            /** Drops, duplicates, swaps and damages frames: the session must cope with every result. */
            private void mutate() {
                int mutations = 1 + rnd.nextInt(3);
                for (int m = 0; m < mutations; m++) {
                    List<Integer> frames = new ArrayList<>();
                    for (int i = 0; i < out.size(); i++) {
                        if (out.get(i) instanceof byte[]) {
                            frames.add(i);
                        }
                    }
                    int at = frames.get(rnd.nextInt(frames.size()));
                    byte[] b = (byte[]) out.get(at);
                    switch (rnd.nextInt(11)) {
                        case 0 -> out.remove(at);
                        case 1 -> out.add(at, b.clone());
                        case 2 -> {
                            int other = frames.get(rnd.nextInt(frames.size()));
                            out.set(at, out.get(other));
                            out.set(other, b);
                        }
                        case 3 -> out.add(at, anyFrame());
                        case 4 -> out.set(at, Arrays.copyOf(b, rnd.nextInt(b.length + 1))); // truncated
                        case 5 -> {
                            byte[] c = b.clone();
                            c[rnd.nextInt(c.length)] ^= (byte) (1 << rnd.nextInt(8));
                            out.set(at, c);
                        }
                        case 6 -> out.add(at, randomBytes(rnd, 1 + rnd.nextInt(12)));
                        case 7 -> { // size field at an extreme or off by one
                            byte[] c = b.clone();
                            if (c.length >= Protocol.HEADER_LENGTH) {
                                int size = (c[5] & 0xFF) << 8 | (c[6] & 0xFF);
                                size = switch (rnd.nextInt(4)) {
                                    case 0 -> 0;
                                    case 1 -> 0xFFFF;
                                    case 2 -> Math.max(0, size - 1);
                                    default -> Math.min(0xFFFF, size + 1);
                                };
                                c[5] = (byte) (size >>> 8);
                                c[6] = (byte) size;
                            }
                            out.set(at, c);
                        }
                        case 8 -> { // another kind, same size
                            byte[] c = b.clone();
                            if (c.length > 0) {
                                c[0] = (byte) (rnd.nextInt(4) == 0 ? rnd.nextInt(256) : rnd.nextInt(KINDS.length));
                            }
                            out.set(at, c);
                        }
                        case 9 -> { // another id
                            byte[] c = b.clone();
                            if (c.length >= 5) {
                                int id = rnd.nextBoolean() ? 0 : rnd.nextBoolean() ? -1 : 1 + rnd.nextInt(4);
                                System.arraycopy(intBytes(id), 0, c, 1, 4);
                            }
                            out.set(at, c);
                        }
                        default -> { // moved later
                            int to = frames.get(rnd.nextInt(frames.size()));
                            Object moved = out.remove(at);
                            out.add(Math.min(to, out.size()), moved);
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private static final class Stats {
        long cases;
        long framesGenerated;
        long framesSeen;
        long active;
        long opensAnswered;
        long framesWritten;
        long closedWithError;
        long endedByGateway;
        long timedOut;
        long pipelineArtifacts;
        long stillOpen;
        final Map<FrameKind, Long> seenByKind = new EnumMap<>(FrameKind.class);
        final Map<FrameKind, Long> writtenByKind = new EnumMap<>(FrameKind.class);
        final Map<String, Long> closeReasons = new TreeMap<>();
    }

    /** A frame after which the link ends: a connection Error (id 0) or a Refuse. */
    static boolean endsLink(Frame frame) {
        return (frame.kind() == FrameKind.ERROR && frame.id() == Protocol.CONNECTION_ID)
                || frame.kind() == FrameKind.REFUSE;
    }
}
