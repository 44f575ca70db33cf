package io.diglett.server.link;

import io.diglett.server.Gateway;

import io.diglett.server.auth.Authenticator;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.TlsSettings;
import io.diglett.server.registrar.Registrar;

import io.diglett.protocol.testing.DuplexEmbeddedChannel;
import io.diglett.protocol.testing.Fuzzing.LogCapture;
import io.diglett.protocol.testing.Fuzzing.TrackingAllocator;
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
import io.diglett.protocol.Joining;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.mux.HandlerNames;
import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledDirectByteBuf;
import io.netty.buffer.UnpooledHeapByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Seeded fuzzing of {@link GatewaySession}: each case is a fresh plaintext link pipeline (as
 * {@code Gateway.initLink} builds it) on an EmbeddedChannel, fed an agent's transcript in random chunks:
 * handshake, Login, Register, FinishRegister, then stream frames for the streams of public clients the test
 * connects (EmbeddedChannels handed to {@link GatewaySession#accept}); frames are dropped, duplicated, swapped
 * and byte-mutated, and the clients send data, half-close, close, stall and fail writes in between. Public
 * listeners are fakes ({@code Gateway.binder}); some binds fail, some complete late, some after the link closed.
 *
 * <p>After every case: no exception reached the end of a pipeline or the log (stack traces, "internal error",
 * "was thrown by"); what the session wrote parses as a handshake and valid frames; no "internal error" was
 * sent; a connection Error is the last frame and is followed by the close; a closed link ended with such an
 * Error unless the agent itself ended it (Terminate or Error(0)); every Ping the session read while the link
 * was up got its Pong; an unfinished handshake times out with an Error; after the link closes every client
 * socket and listener is closed, every name released, the session gone and every buffer released.
 *
 * <p>In a third of the cases whose link went active, a second link joins the session (now and then with a wrong
 * proof, which must be refused), takes public clients the session places on it, answers their Opens, and the two
 * links close in either order: while the second is up after the first closed, the names stay and a new client
 * goes on it.
 *
 * <p>Buffers: most cases allocate from a {@link TrackingAllocator} that checks every buffer after the case;
 * every fiftieth uses Netty's default allocator, watched by the build's paranoid leak detector and
 * {@code LeakGuard}.
 *
 * <p>Reproduce a failure with the seed and case printed in the message: {@code mvn test -pl diglett-server -am
 * -Dtest=GatewaySessionFuzzTest -Dsurefire.failIfNoSpecifiedTests=false -Ddiglett.fuzz.seed=S
 * -Ddiglett.fuzz.case=N}. Other switches: {@code -Ddiglett.fuzz.cases=N} (number of cases; a new seed explores
 * new transcripts), {@code -Ddiglett.fuzz.trace=true} (where leaked buffers were allocated, retained, released),
 * {@code -Ddiglett.fuzz.paranoid=true} (Netty's allocator and leak detector in every case),
 */
class GatewaySessionFuzzTest {

    private static final long DEFAULT_SEED = 0x6A7E3A11F022L;
    private static final int DEFAULT_CASES = 5_500;
    /** Every n-th case uses Netty's default (paranoid-tracked) allocator, the others count buffers exactly. */
    private static final int PARANOID_EVERY = 50;
    private static final SocketAddress LISTENER_ADDRESS = new InetSocketAddress(InetAddress.getLoopbackAddress(),
            40000);
    /** Valid names, a duplicate and invalid ones: the registry is shared, names are freed when a case ends. */
    private static final String[] NAMES = {"alpha", "beta", "gamma-7", "alpha", "x", "-bad", "Upper", "a.b", "bad-"};
    private static final FrameKind[] KINDS = FrameKind.values();
    /** Public clients per case at most. */
    private static final int MAX_STREAMS = 24;

    private Gateway gateway;
    private Case current;
    private final Stats stats = new Stats();

    @Test
    void gatewaySessionSurvivesRandomAndMutatedAgentTranscripts() {
        long seed = Long.getLong("diglett.fuzz.seed", DEFAULT_SEED);
        int cases = Integer.getInteger("diglett.fuzz.cases", DEFAULT_CASES);
        int only = Integer.getInteger("diglett.fuzz.case", -1);
        gateway = new Gateway(GatewayConfig.defaults().withTls(TlsSettings.plain()), Authenticator.open(),
                Registrar.log());
        gateway.registrations().useBinder((tunnel, loop) -> current.bind(loop));
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
            gateway.close();
        }
        long millis = (System.nanoTime() - started) / 1_000_000;
        System.out.printf("GatewaySessionFuzzTest seed=%d: %d cases in %d ms%n"
                        + "  %d frames generated, %d reached the session: %s%n"
                        + "  %d handshakes, %d reached ACTIVE, %d streams accepted, %d client actions%n"
                        + "  %d second links joined, %d streams opened while two links were up%n"
                        + "  the session wrote %d frames: %s%n"
                        + "  %d links closed with Error(0), %d ended by the agent, %d timed out, %d still open%n"
                        + "  %d client sockets drained after their link closed, %d decode errors after an in-read"
                        + " close (EmbeddedChannel artifact)%n"
                        + "  connection errors: %s%n",
                seed, stats.cases, millis, stats.framesGenerated, stats.framesSeen, stats.seenByKind,
                stats.handshakes, stats.active, stats.accepted, stats.clientActions,
                stats.joined, stats.acceptedOnJoined,
                stats.framesWritten, stats.writtenByKind,
                stats.closedWithError, stats.endedByAgent, stats.timedOut, stats.stillOpen,
                stats.drainedAfterLink, stats.pipelineArtifacts, stats.closeReasons);
        if (only < 0 && cases >= DEFAULT_CASES) {
            String why = "generator coverage, seed=" + seed;
            assertTrue(stats.framesGenerated >= 100_000, why + ": frames generated " + stats.framesGenerated);
            assertTrue(stats.framesSeen >= 100_000, why + ": frames seen " + stats.framesSeen);
            assertTrue(stats.active >= cases / 3, why + ": ACTIVE " + stats.active);
            assertTrue(stats.accepted >= cases, why + ": streams " + stats.accepted);
            assertTrue(stats.closedWithError >= cases / 5, why + ": closed with Error " + stats.closedWithError);
            assertTrue(stats.stillOpen >= cases / 10, why + ": still open " + stats.stillOpen);
            assertTrue(stats.timedOut >= 10, why + ": timed out " + stats.timedOut);
            assertTrue(stats.joined >= cases / 60, why + ": joined " + stats.joined);
            assertTrue(stats.acceptedOnJoined >= cases / 20, why + ": streams with two links " + stats.acceptedOnJoined);
            for (FrameKind kind : KINDS) {
                assertTrue(stats.seenByKind.getOrDefault(kind, 0L) >= 20, why + ": " + stats.seenByKind);
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
        current = c;
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
        } finally {
            current = null;
        }
        stats.cases++;
    }

    private static String tail(String s, int n) {
        return s.length() <= n ? s : "..." + s.substring(s.length() - n);
    }

    /** One fuzz case: its transcript, link, clients, fake listeners and what the session wrote. */
    private final class Case {
        final SplittableRandom feedRnd;
        final TrackingAllocator tracker;
        final ByteBufAllocator alloc;
        final List<Object> steps;
        final Spy spy = new Spy();
        final List<FuzzClient> clients = new ArrayList<>();
        final List<EmbeddedChannel> listeners = new ArrayList<>();
        final List<Promise<Channel>> pendingBinds = new ArrayList<>();
        final ByteArrayOutputStream written = new ByteArrayOutputStream();
        final List<String> registeredNames = new ArrayList<>();
        final int bindMode;
        final int chunkMode;
        GatewaySession session;
        EmbeddedChannel link;
        /** A second link that joins the session (see {@link Joiner}), or {@code null}. */
        Joiner joiner;

        Case(SplittableRandom rnd, TrackingAllocator tracker) {
            this.tracker = tracker;
            this.alloc = tracker != null ? tracker : ByteBufAllocator.DEFAULT;
            this.steps = new Generator(rnd).transcript();
            this.feedRnd = rnd.split();
            this.bindMode = feedRnd.nextInt(10); // 0: binds fail now and then; 1-2: some complete late
            this.chunkMode = feedRnd.nextInt(4);
        }

        Future<Channel> bind(EventLoop loop) {
            if (bindMode == 0 && feedRnd.nextInt(3) == 0) {
                return loop.newFailedFuture(new BindException("fuzz: no free port"));
            }
            if (bindMode <= 2 && feedRnd.nextBoolean()) {
                Promise<Channel> promise = loop.newPromise();
                pendingBinds.add(promise);
                return promise;
            }
            return loop.newSucceededFuture(newListener());
        }

        private EmbeddedChannel newListener() {
            EmbeddedChannel listener = new EmbeddedChannel() {
                @Override
                public SocketAddress localAddress() {
                    return LISTENER_ADDRESS;
                }
            };
            listeners.add(listener);
            return listener;
        }

        void completeBinds() {
            List<Promise<Channel>> binds = new ArrayList<>(pendingBinds);
            pendingBinds.clear();
            for (Promise<Channel> promise : binds) {
                if (feedRnd.nextInt(4) == 0) {
                    promise.setFailure(new BindException("fuzz: no free port"));
                } else {
                    promise.setSuccess(newListener());
                }
            }
            drain();
        }

        void run() {
            session = new GatewaySession(gateway.linkServices());
            spy.session = session;
            link = linkChannel(session, spy);
            link.freezeTime();
            ByteArrayOutputStream pending = new ByteArrayOutputStream();
            for (Object step : steps) {
                if (step instanceof byte[] frame) {
                    pending.writeBytes(frame);
                    stats.framesGenerated += step == steps.get(0) ? 0 : 1; // the handshake is no frame
                } else {
                    deliver(pending.toByteArray());
                    pending.reset();
                    perform((Action) step);
                }
            }
            deliver(pending.toByteArray());
            boolean lateBinds = feedRnd.nextBoolean();
            if (!lateBinds) {
                completeBinds();
            }
            drain();

            boolean open = link.isOpen();
            GatewaySession.Phase phase = session.phase();
            List<Frame> frames = writtenFrames();
            try {
                checkWritten(frames, open);
                if (feedRnd.nextInt(3) == 0) {
                    // the handshake timer: fires unless the session is ACTIVE
                    link.advanceTimeBy(gateway.config().limits().handshakeTimeout().toMillis() + 1000,
                            TimeUnit.MILLISECONDS);
                    drain();
                    if (open && phase != GatewaySession.Phase.ACTIVE) {
                        assertTrue(!link.isOpen(), "the handshake timer did not close a link in phase " + phase);
                        releaseAll(frames);
                        frames = writtenFrames();
                        Frame last = frames.isEmpty() ? null : frames.get(frames.size() - 1);
                        assertTrue(last != null && endsLink(last),
                                "a handshake timeout must end with Error(0), got " + frames);
                        stats.timedOut++;
                    } else if (open) {
                        assertTrue(link.isOpen(), "the handshake timer closed an ACTIVE link");
                    }
                }
            } finally {
                releaseAll(frames);
            }
            if (spy.handshakes > 0) {
                stats.handshakes++;
            }
            if (spy.reachedActive) {
                stats.active++;
            }
            if (link.isOpen()) {
                stats.stillOpen++;
            }

            if (open && phase == GatewaySession.Phase.ACTIVE && spy.version >= Joining.SINCE
                    && feedRnd.nextInt(3) == 0) {
                joiner = new Joiner();
                joiner.run();
            }
            boolean secondFirst = joiner != null && feedRnd.nextBoolean();
            if (secondFirst) {
                joiner.close();
            }

            // the link goes: every stream, client socket, listener and name must go with it
            int names = gateway.registrations().names().size();
            try {
                link.finishAndReleaseAll();
            } catch (Throwable t) {
                if (!closedPipelineArtifact(t)) {
                    throw new AssertionError("an exception reached the end of the link pipeline: " + t, t);
                }
            }
            if (joiner != null && !secondFirst) {
                link.runPendingTasks(); // the session's home loop: the first link's
                joiner.drain();
                if (joiner.joined && joiner.channel.isOpen()) {
                    assertEquals(names, gateway.registrations().names().size(),
                            "the names stay while a joined link is up, whichever link logged in");
                    joiner.acceptOnRemainingLink();
                }
                joiner.close();
            }
            link.runPendingTasks();
            runClientTasks();
            if (lateBinds) {
                completeBinds();
            }
            checkNoException(link, "link");
            for (FuzzClient client : clients) {
                client.runPendingTasks();
                checkNoException(client, "client");
                if (client.isOpen() && !client.writable) {
                    // A stream that ended with both Fins keeps its socket until what is held for it is
                    // written, link or no link; once the socket drains it must close.
                    stats.drainedAfterLink++;
                    client.writable = true;
                    client.pipeline().fireChannelWritabilityChanged();
                    client.runPendingTasks();
                    checkNoException(client, "client");
                }
                assertTrue(!client.isOpen(), "a client socket is still open after its link closed: "
                        + client.pipeline().get(HandlerNames.STREAM));
            }
            for (EmbeddedChannel listener : listeners) {
                assertTrue(!listener.isOpen(), "a public listener is still open after its link closed");
            }
            assertEquals(0, gateway.registrations().names().size(), "names still registered after the link closed");
            assertEquals(0, gateway.linkServices().groups().size(), "a session outlived its last link");
            // every connection placed or counted gave its count back
            if (session.group() != null) {
                assertEquals(0, session.group().streams().get(), "the session still counts streams");
            }
            assertEquals(0, session.assigned(), "the first link still counts placed connections");
            assertEquals(0, session.streams(), "the first link still counts streams");
            if (joiner != null) {
                assertEquals(0, joiner.second.assigned(), "the joined link still counts placed connections");
                assertEquals(0, joiner.second.streams(), "the joined link still counts streams");
            }
        }

        /**
         * A second link of the same agent: handshake, Join with the session's id, the Proof for the Challenge it
         * gets (now and then a wrong one, which must be refused), then, once joined, streams the session places on
         * it: Opens answered, payloads, Fins, Closes, with public clients coming and going on both links.
         */
        private final class Joiner {
            final GatewaySession second = new GatewaySession(gateway.linkServices());
            final EmbeddedChannel channel;
            final ByteArrayOutputStream out = new ByteArrayOutputStream();
            int read = Protocol.HANDSHAKE_LENGTH;
            boolean joined;

            Joiner() {
                channel = linkChannel(second, new ChannelInboundHandlerAdapter());
                channel.freezeTime();
            }

            void run() {
                Frame ok = session.group().loggedIn(alloc, Protocol.VERSION);
                Joining.Session joining;
                try {
                    joining = Joining.Session.decode(ok, Protocol.VERSION);
                } finally {
                    ok.release();
                }
                send(handshake(Protocol.VERSION));
                send(bytesOf(new Joining.Join(joining.id()).encode(alloc)));
                List<Frame> frames = frames();
                try {
                    assertTrue(frames.size() == 1 && frames.get(0).kind() == FrameKind.CHALLENGE,
                            "a Join is answered with a Challenge, got " + frames);
                    byte[] proof = bytesOf(Joining.Proof.of(joining, Joining.Challenge.decode(frames.get(0)))
                            .encode(alloc));
                    boolean wrong = feedRnd.nextInt(6) == 0;
                    if (wrong) {
                        proof[Protocol.HEADER_LENGTH + feedRnd.nextInt(32)] ^= (byte) (1 + feedRnd.nextInt(255));
                    }
                    send(proof);
                    releaseAll(frames);
                    frames = frames();
                    Frame answer = frames.isEmpty() ? null : frames.get(0);
                    if (wrong) {
                        assertTrue(answer != null && answer.kind() == FrameKind.REFUSE
                                && answer.text().equals("cannot join: unknown session or wrong proof"),
                                "a wrong proof must be refused, got " + answer);
                        return;
                    }
                    assertTrue(answer != null && answer.kind() == FrameKind.OK && answer.content().readableBytes() == 4,
                            "a right proof joins the session, got " + frames);
                    joined = true;
                    stats.joined++;
                } finally {
                    releaseAll(frames);
                }
                List<Tunnel> tunnels = new ArrayList<>();
                for (String name : registeredNames) {
                    gateway.registrations().names().lookup(name).filter(t -> t.group() == session.group())
                            .ifPresent(tunnels::add);
                }
                int rounds = tunnels.isEmpty() ? 0 : 10 + feedRnd.nextInt(40);
                for (int i = 0; i < rounds && channel.isOpen(); i++) {
                    int p = feedRnd.nextInt(10);
                    if (p < 3 && clients.size() < 2 * MAX_STREAMS) {
                        accept(tunnels.get(feedRnd.nextInt(tunnels.size())));
                    } else if (p < 5 && !clients.isEmpty()) {
                        FuzzClient client = clients.get(feedRnd.nextInt(clients.size()));
                        if (client.isOpen()) {
                            byte[] data = new byte[1 + feedRnd.nextInt(2_000)];
                            client.writeInbound(alloc.buffer(data.length).writeBytes(data));
                        }
                    } else if (p < 6 && !clients.isEmpty()) {
                        clients.get(feedRnd.nextInt(clients.size())).close();
                    } else {
                        answerStreams();
                    }
                    drain();
                }
            }

            /** A public client of {@code tunnel}, placed by the session on either link. */
            private void accept(Tunnel tunnel) {
                FuzzClient client = new FuzzClient(alloc);
                clients.add(client);
                session.group().accept(tunnel, client);
                if (client.pipeline().get(HandlerNames.STREAM) != null) {
                    stats.acceptedOnJoined++;
                }
            }

            /** After the first link closed: a new client goes on this link. */
            void acceptOnRemainingLink() {
                for (String name : registeredNames) {
                    Tunnel tunnel = gateway.registrations().names().lookup(name).orElse(null);
                    if (tunnel != null && tunnel.group() == second.group()) {
                        FuzzClient client = new FuzzClient(alloc);
                        clients.add(client);
                        session.group().accept(tunnel, client);
                        drain();
                        assertTrue(client.pipeline().get(HandlerNames.STREAM) != null,
                                "the remaining link takes a new client");
                        return;
                    }
                }
            }

            /** Answers the Opens and stream frames this link got, as an agent would, now and then oddly. */
            private void answerStreams() {
                List<Frame> frames = frames();
                try {
                    for (Frame frame : frames) {
                        if (frame.kind() == FrameKind.OPEN) {
                            int r = feedRnd.nextInt(10);
                            if (r < 7) {
                                send(frame(FrameKind.OK, frame.id(), intBytes(Protocol.MIN_WINDOW
                                        + feedRnd.nextInt(1 << 18))));
                                send(frame(FrameKind.PAYLOAD, frame.id(), randomBytes(feedRnd, 1 + feedRnd.nextInt(900))));
                                if (feedRnd.nextInt(3) == 0) {
                                    send(frame(FrameKind.FIN, frame.id(), new byte[0]));
                                }
                            } else if (r < 9) {
                                send(text(FrameKind.ERROR, frame.id(), "backend unreachable"));
                            }
                        } else if (frame.kind() == FrameKind.PAYLOAD && feedRnd.nextInt(4) == 0) {
                            send(frame(FrameKind.CLOSE, frame.id(), new byte[0]));
                        } else if (frame.kind() == FrameKind.PING) {
                            send(frame(FrameKind.PONG, 0, ByteBufUtil.getBytes(frame.content())));
                        }
                    }
                } finally {
                    releaseAll(frames);
                }
            }

            private void send(byte[] bytes) {
                if (!channel.isOpen()) {
                    return;
                }
                channel.writeInbound(alloc.buffer(bytes.length).writeBytes(bytes));
                drain();
            }

            /** Runs both links' tasks (the session's state lives on the first's loop) and collects this one's output. */
            void drain() {
                for (int i = 0; i < 3; i++) {
                    link.runPendingTasks();
                    channel.runPendingTasks();
                    runClientTasks();
                }
                channel.checkException();
                Object msg;
                while ((msg = channel.readOutbound()) != null) {
                    try {
                        out.writeBytes(ByteBufUtil.getBytes((ByteBuf) msg));
                    } finally {
                        ReferenceCountUtil.release(msg);
                    }
                }
            }

            /** The frames written since the last call. */
            private List<Frame> frames() {
                drain();
                byte[] bytes = out.toByteArray();
                List<Frame> frames = decodeFrames(bytes, read);
                read = bytes.length;
                return frames;
            }

            void close() {
                channel.finishAndReleaseAll();
                drain();
                runClientTasks();
            }
        }

        private byte[] bytesOf(Frame frame) {
            try {
                ByteBuf encoded = alloc.buffer();
                try {
                    encoded.writeByte(frame.kind().code()).writeInt(frame.id())
                            .writeShort(frame.content().readableBytes()).writeBytes(frame.content());
                    return ByteBufUtil.getBytes(encoded);
                } finally {
                    encoded.release();
                }
            } finally {
                frame.release();
            }
        }

        /** Feeds bytes in random chunks while the link is open, letting the event loop run now and then. */
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

        private void perform(Action action) {
            stats.clientActions++;
            FuzzClient client = action.arg < clients.size() ? clients.get(action.arg) : null;
            switch (action.op) {
                case ACCEPT -> {
                    Tunnel tunnel = null;
                    for (String name : registeredNames) {
                        Tunnel t = gateway.registrations().names().lookup(name).orElse(null);
                        if (t != null && t.group() == session.group()) {
                            tunnel = t;
                            break;
                        }
                    }
                    if (tunnel != null) {
                        FuzzClient accepted = new FuzzClient(alloc);
                        clients.add(accepted);
                        session.group().accept(tunnel, accepted); // as the public listener does
                        if (accepted.pipeline().get(HandlerNames.STREAM) != null) {
                            stats.accepted++;
                        }
                    }
                }
                case CLIENT_DATA -> {
                    if (client != null && client.isOpen()) {
                        byte[] data = new byte[1 + feedRnd.nextInt(feedRnd.nextInt(8) == 0 ? 20_000 : 600)];
                        client.writeInbound(alloc.buffer(data.length).writeBytes(data));
                    }
                }
                case CLIENT_FIN -> {
                    if (client != null && client.isOpen()) {
                        client.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
                    }
                }
                case CLIENT_CLOSE -> {
                    if (client != null) {
                        client.close();
                    }
                }
                case CLIENT_WRITABILITY -> {
                    if (client != null && client.isOpen()) {
                        client.writable = !client.writable;
                        client.pipeline().fireChannelWritabilityChanged();
                    }
                }
                case CLIENT_FAIL_WRITES -> {
                    if (client != null) {
                        client.failWrites = true;
                    }
                }
                case COMPLETE_BINDS -> completeBinds();
                case TASKS -> {
                    link.runPendingTasks();
                }
                default -> throw new IllegalStateException(action.toString());
            }
            drain();
        }

        private void runClientTasks() {
            for (FuzzClient client : clients) {
                client.runPendingTasks();
                client.releaseOutbound();
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

        /** A plaintext link pipeline as {@code Gateway.initLink} builds it, with {@code spy} after the decoders. */
        private EmbeddedChannel linkChannel(GatewaySession linkSession, ChannelInboundHandlerAdapter spy) {
            return new EmbeddedChannel(new ChannelInitializer<>() {
                @Override
                protected void initChannel(Channel ch) {
                    ch.config().setAllocator(alloc);
                    ch.pipeline()
                            .addLast(HandlerNames.HANDSHAKE, new HandshakeDecoder())
                            .addLast(HandlerNames.FRAME_DECODER, new FrameDecoder())
                            .addLast("fuzz-spy", spy)
                            .addLast(HandlerNames.FRAME_ENCODER, FrameEncoder.INSTANCE)
                            .addLast(HandlerNames.SESSION, linkSession);
                }
            });
        }

        /** Runs pending tasks and moves what the session wrote into {@link #written}. */
        private void drain() {
            link.runPendingTasks();
            runClientTasks();
            checkNoException(link, "link");
            Object msg;
            while ((msg = link.readOutbound()) != null) {
                try {
                    if (msg instanceof ByteBuf buf) {
                        written.writeBytes(ByteBufUtil.getBytes(buf));
                    } else {
                        fail("the session wrote a " + msg.getClass().getName() + " past the encoder: " + msg);
                    }
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            }
        }

        private void checkNoException(EmbeddedChannel channel, String what) {
            try {
                channel.checkException();
            } catch (Throwable t) {
                if (channel == link && closedPipelineArtifact(t)) {
                    return;
                }
                throw new AssertionError("an exception reached the end of the " + what + " pipeline: " + t, t);
            }
        }

        /** Everything the session wrote, decoded; the handshake reply checked and skipped. */
        private List<Frame> writtenFrames() {
            byte[] bytes = written.toByteArray();
            int start = 0;
            if (spy.handshakes > 0) {
                int answer = new Handshake(spy.version).negotiate();
                assertTrue(bytes.length >= Protocol.HANDSHAKE_LENGTH && readInt(bytes, 0) == Protocol.MAGIC
                        && bytes[4] == (answer < 0 ? Protocol.VERSION : answer),
                        "the gateway must answer a handshake with the version the link runs, else its own");
                start = Protocol.HANDSHAKE_LENGTH;
            } else {
                assertTrue(bytes.length < 4 || readInt(bytes, 0) != Protocol.MAGIC,
                        "a handshake reply without a handshake");
            }
            return decodeFrames(bytes, start);
        }

        private void checkWritten(List<Frame> frames, boolean open) {
            long[] pongs = frames.stream().filter(f -> f.kind() == FrameKind.PONG)
                    .mapToLong(f -> f.content().getLong(f.content().readerIndex())).toArray();
            for (int i = 0; i < frames.size(); i++) {
                Frame frame = frames.get(i);
                stats.framesWritten++;
                stats.writtenByKind.merge(frame.kind(), 1L, Long::sum);
                if (frame.kind() == FrameKind.ERROR || frame.kind() == FrameKind.CLOSE
                        || frame.kind() == FrameKind.TERMINATE) {
                    assertTrue(!frame.text().startsWith("internal error"), "the session sent " + frame + ": "
                            + frame.text());
                }
                if (endsLink(frame)) {
                    assertEquals(frames.size() - 1, i, "frames after the connection Error '" + frame.text() + "': "
                            + frames.subList(i, frames.size()));
                    assertTrue(!open, "the link stayed open after the connection Error '" + frame.text() + "'");
                }
            }
            if (!open) {
                Frame last = frames.isEmpty() ? null : frames.get(frames.size() - 1);
                boolean error = last != null && endsLink(last);
                if (error) {
                    stats.closedWithError++;
                    stats.closeReasons.merge(last.text().replaceAll("[0-9]+", "N").replaceAll("'[^']*'", "'X'"),
                            1L, Long::sum);
                } else if (spy.peerEnded) {
                    stats.endedByAgent++;
                } else {
                    fail("the link was closed without a connection Error; last frame written: " + last);
                }
            }
            if (!spy.peerEnded) {
                assertEquals(Arrays.toString(spy.pingsWhileOpen()), Arrays.toString(pongs),
                        "every Ping read while the link was up is answered by a Pong with its bytes, in order");
            }
        }

        /** Closes and releases everything, also after a failure (when exceptions here would hide it). */
        void cleanUp() {
            List<EmbeddedChannel> channels = new ArrayList<>();
            if (link != null) {
                channels.add(link);
            }
            if (joiner != null) {
                channels.add(joiner.channel);
            }
            for (Promise<Channel> promise : pendingBinds) {
                promise.tryFailure(new BindException("fuzz: case over"));
            }
            channels.addAll(clients);
            channels.addAll(listeners);
            for (EmbeddedChannel channel : channels) {
                try {
                    channel.finishAndReleaseAll();
                } catch (Throwable ignored) {
                    // reported by the case already, or by the leak check
                }
            }
        }

        String describe() {
            StringBuilder sb = new StringBuilder();
            int shown = 0;
            for (Object step : steps) {
                if (shown++ == 200) {
                    sb.append(" ...");
                    break;
                }
                sb.append(' ');
                if (step instanceof byte[] b) {
                    sb.append(describeFrame(b));
                } else {
                    sb.append(step);
                }
            }
            return sb.toString();
        }

        /**
         * The agent's side of a session, as a list of frames (byte arrays) and {@link Action}s. Names go into
         * {@link #registeredNames}, where ACCEPT finds a tunnel of this session.
         */
        private final class Generator {
            final SplittableRandom rnd;
            static final int OPENING = 0;
            static final int OPEN = 1;
            static final int FIN = 2;
            static final int GONE = 3;
            final List<Object> out = new ArrayList<>();
            final int[] state = new int[MAX_STREAMS + 1];
            final int[] sent = new int[MAX_STREAMS + 1];
            int accepted;

            Generator(SplittableRandom rnd) {
                this.rnd = rnd;
            }

            List<Object> transcript() {
                int h = rnd.nextInt(100);
                if (h < 92) {
                    // mostly this version; an agent of the oldest version served gets its own layouts
                    out.add(handshake(h < 80 ? Protocol.VERSION : Protocol.OLDEST_SERVED_VERSION));
                } else if (h < 95) {
                    out.add(handshake(rnd.nextBoolean() ? 1 : rnd.nextInt(256)));
                } else if (h < 98) {
                    out.add(randomBytes(rnd, 1 + rnd.nextInt(30)));
                } else {
                    out.add("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                }
                if (rnd.nextInt(10) == 0) {
                    out.add(ping());
                }
                if (h < 80 && rnd.nextInt(20) == 0) {
                    // a link that asks to join a session nobody gave it: a Challenge, then a refusal
                    out.add(frame(FrameKind.JOIN, 0, randomBytes(rnd, rnd.nextInt(10) == 0 ? 15 : 16)));
                    out.add(rnd.nextInt(4) == 0 ? anyFrame() : frame(FrameKind.PROOF, 0, randomBytes(rnd, 32)));
                    if (rnd.nextBoolean()) {
                        out.add(frame(FrameKind.PROOF, 0, randomBytes(rnd, 32))); // a second proof, after the answer
                    }
                    return out;
                }
                out.add(rnd.nextInt(25) == 0 ? anyFrame() : text(FrameKind.LOGIN, 0, token()));
                int regs = 1 + rnd.nextInt(3);
                for (int r = 0; r < regs; r++) {
                    int id = switch (rnd.nextInt(20)) {
                        case 0 -> 0;
                        case 1 -> r; // a duplicate of the previous one (or 0)
                        default -> r + 1;
                    };
                    String name = NAMES[rnd.nextInt(10) < 7 ? rnd.nextInt(5) : rnd.nextInt(NAMES.length)];
                    registeredNames.add(name);
                    out.add(text(FrameKind.REGISTER, id, name));
                    if (rnd.nextInt(4) == 0) {
                        out.add(new Action(Op.COMPLETE_BINDS, 0));
                    }
                    if (rnd.nextInt(15) == 0) {
                        out.add(ping());
                    }
                }
                if (rnd.nextInt(30) != 0) {
                    out.add(frame(FrameKind.FINISH_REGISTER, 0, new byte[0]));
                }
                if (rnd.nextInt(100) < 80) {
                    out.add(new Action(Op.COMPLETE_BINDS, 0)); // else late binds keep the session registering
                }
                int n = rnd.nextInt(8) == 0 ? rnd.nextInt(5) : 30 + rnd.nextInt(80);
                int chaos = rnd.nextInt(4) == 0 ? 40 : 8; // percent of active frames drawn without the model
                for (int i = 0; i < n; i++) {
                    int p = rnd.nextInt(100);
                    if ((p < 8 || (accepted == 0 && p < 40)) && accepted < MAX_STREAMS) {
                        out.add(new Action(Op.ACCEPT, 0));
                        accepted++;
                    } else if (p < 16) {
                        Op op = switch (rnd.nextInt(9)) {
                            case 0, 1, 2, 3 -> Op.CLIENT_DATA;
                            case 4 -> Op.CLIENT_FIN;
                            case 5 -> Op.CLIENT_CLOSE;
                            case 6, 7 -> Op.CLIENT_WRITABILITY;
                            default -> rnd.nextInt(3) == 0 ? Op.CLIENT_FAIL_WRITES : Op.TASKS;
                        };
                        out.add(new Action(op, accepted == 0 ? 0 : rnd.nextInt(accepted)));
                    } else {
                        out.add(rnd.nextInt(100) < chaos ? activeFrame() : sensibleFrame());
                    }
                }
                if (rnd.nextInt(5) < 2) {
                    mutate();
                }
                if (rnd.nextInt(8) == 0) {
                    // only a prefix: the agent stalls (often before registration finished)
                    return new ArrayList<>(out.subList(0, 1 + rnd.nextInt(Math.min(out.size(), 8))));
                }
                return out;
            }

            private String token() {
                StringBuilder sb = new StringBuilder();
                int n = rnd.nextInt(24);
                for (int i = 0; i < n; i++) {
                    sb.append((char) ('!' + rnd.nextInt(94)));
                }
                return sb.toString();
            }

            private int streamId() {
                return switch (rnd.nextInt(20)) {
                    case 0 -> 0;
                    case 1 -> rnd.nextInt();
                    default -> 1 + rnd.nextInt(accepted + 1);
                };
            }

            private byte[] okOpen(int id) {
                int window = switch (rnd.nextInt(20)) {
                    case 0 -> rnd.nextInt(Protocol.MIN_WINDOW);
                    case 1 -> Integer.MAX_VALUE;
                    case 2 -> -1;
                    default -> Protocol.MIN_WINDOW + rnd.nextInt(1 << 20);
                };
                if (rnd.nextInt(40) == 0) {
                    return frame(FrameKind.OK, id, randomBytes(rnd, rnd.nextBoolean() ? 0 : 2));
                }
                return frame(FrameKind.OK, id, intBytes(window));
            }

            /**
             * A frame an agent following the protocol could send now, as far as the generator can tell: it tracks
             * each stream it opened (OPENING until its Ok, then OPEN, FIN after its Fin, GONE after Close or
             * Error). The gateway's side of a stream may have ended meanwhile; its frames are then dropped.
             */
            private byte[] sensibleFrame() {
                if (accepted == 0 || rnd.nextInt(12) == 0) {
                    return rnd.nextInt(4) == 0 ? frame(FrameKind.PONG, 0, randomBytes(rnd, 8)) : ping();
                }
                int s = 1 + rnd.nextInt(accepted);
                int r = rnd.nextInt(100);
                switch (state[s]) {
                    case OPENING -> {
                        if (r < 75) {
                            state[s] = OPEN;
                            return frame(FrameKind.OK, s, intBytes(Protocol.MIN_WINDOW + rnd.nextInt(1 << 20)));
                        }
                        state[s] = GONE;
                        return r < 92 ? text(FrameKind.ERROR, s, "backend unreachable")
                                : text(FrameKind.CLOSE, s, "");
                    }
                    case OPEN, FIN -> {
                        if (r < 45 && state[s] == OPEN && sent[s] < 200_000) {
                            int size = rnd.nextInt(30) == 0 ? 1 + rnd.nextInt(Protocol.MAX_PAYLOAD)
                                    : 1 + rnd.nextInt(rnd.nextBoolean() ? 100 : 1500);
                            sent[s] += size;
                            return frame(FrameKind.PAYLOAD, s, randomBytes(rnd, size));
                        } else if (r < 80) {
                            return frame(FrameKind.WINDOW, s, intBytes(1 + rnd.nextInt(1 << 16)));
                        } else if (r < 90 && state[s] == OPEN) {
                            state[s] = FIN;
                            return frame(FrameKind.FIN, s, new byte[0]);
                        } else if (r < 95) {
                            state[s] = GONE;
                            return text(FrameKind.CLOSE, s, rnd.nextBoolean() ? "" : "backend reset");
                        }
                        return ping();
                    }
                    default -> {
                        return r < 50 ? ping() : frame(FrameKind.PAYLOAD, s, randomBytes(rnd, 1 + rnd.nextInt(50)));
                    }
                }
            }

            private byte[] activeFrame() {
                int k = rnd.nextInt(1000);
                int id = streamId();
                if (k < 100) {
                    return okOpen(id);
                } else if (k < 150) {
                    return text(FrameKind.ERROR, rnd.nextInt(40) == 0 ? 0 : id, "backend refused");
                } else if (k < 450) {
                    int size = rnd.nextInt(20) == 0 ? 1 + rnd.nextInt(Protocol.MAX_PAYLOAD)
                            : rnd.nextInt(6) == 0 ? 1 + rnd.nextInt(4096) : 1 + rnd.nextInt(400);
                    return frame(FrameKind.PAYLOAD, id, randomBytes(rnd, size));
                } else if (k < 620) {
                    int increment = switch (rnd.nextInt(20)) {
                        case 0 -> 0;
                        case 1 -> -1;
                        case 2 -> Integer.MAX_VALUE;
                        default -> 1 + rnd.nextInt(1 << 18);
                    };
                    return frame(FrameKind.WINDOW, id, intBytes(increment));
                } else if (k < 700) {
                    return frame(FrameKind.FIN, id, new byte[0]);
                } else if (k < 760) {
                    return text(FrameKind.CLOSE, id, rnd.nextBoolean() ? "" : "reset by fuzz");
                } else if (k < 860) {
                    return ping();
                } else if (k < 900) {
                    return frame(FrameKind.PONG, 0, randomBytes(rnd, 8));
                } else if (k < 903) {
                    return text(FrameKind.TERMINATE, 0, rnd.nextBoolean() ? "" : "agent going away");
                } else if (k < 915) {
                    return anyFrame();
                } else {
                    // the most common case again: data on an open stream
                    return frame(FrameKind.PAYLOAD, 1 + rnd.nextInt(accepted + 1), randomBytes(rnd,
                            1 + rnd.nextInt(200)));
                }
            }

            private byte[] ping() {
                return frame(FrameKind.PING, 0, randomBytes(rnd, 8));
            }

            /** Any kind with a size in its range and random content: stray Login, Register, Open... */
            private byte[] anyFrame() {
                FrameKind kind = KINDS[rnd.nextInt(KINDS.length)];
                int size = kind.minPayload() + rnd.nextInt(Math.min(kind.maxPayload() - kind.minPayload(), 70) + 1);
                int id = rnd.nextInt(3) == 0 ? 0 : streamId();
                return frame(kind, id, randomBytes(rnd, size));
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
                    if (frames.isEmpty()) {
                        return;
                    }
                    int at = frames.get(rnd.nextInt(frames.size()));
                    byte[] b = (byte[]) out.get(at);
                    switch (rnd.nextInt(12)) {
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
                        case 7 -> { // size field at an extreme
                            byte[] c = b.clone();
                            if (c.length >= Protocol.HEADER_LENGTH) {
                                int size = switch (rnd.nextInt(4)) {
                                    case 0 -> 0;
                                    case 1 -> 0xFFFF;
                                    case 2 -> Math.max(0, ((c[5] & 0xFF) << 8 | (c[6] & 0xFF)) - 1);
                                    default -> Math.min(0xFFFF, ((c[5] & 0xFF) << 8 | (c[6] & 0xFF)) + 1);
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
                        case 10 -> out.add(at, new Action(Op.values()[rnd.nextInt(Op.values().length)],
                                rnd.nextInt(accepted + 1)));
                        default -> { // a run of frames moved later
                            int to = frames.get(rnd.nextInt(frames.size()));
                            Object moved = out.remove(at);
                            out.add(Math.min(to, out.size()), moved);
                        }
                    }
                }
            }
        }
    }

    enum Op { ACCEPT, CLIENT_DATA, CLIENT_FIN, CLIENT_CLOSE, CLIENT_WRITABILITY, CLIENT_FAIL_WRITES, COMPLETE_BINDS,
        TASKS }

    /** Something other than agent bytes happening between two frames. {@code arg}: which client. */
    record Action(Op op, int arg) {
        @Override
        public String toString() {
            return op == Op.ACCEPT || op == Op.COMPLETE_BINDS || op == Op.TASKS ? op.toString() : op + "#" + arg;
        }
    }

    /** Between the frame decoder and the session: what reached the session, and when. */
    private final class Spy extends ChannelInboundHandlerAdapter {
        GatewaySession session;
        int handshakes;
        /** The version of the agent's handshake. */
        int version;
        boolean peerEnded;
        boolean reachedActive;
        final List<Long> pings = new ArrayList<>();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Handshake handshake) {
                handshakes++;
                version = handshake.version();
            } else if (msg instanceof Frame frame) {
                stats.framesSeen++;
                stats.seenByKind.merge(frame.kind(), 1L, Long::sum);
                boolean open = ctx.channel().isOpen();
                if (frame.kind() == FrameKind.TERMINATE
                        || (frame.kind() == FrameKind.ERROR && frame.id() == Protocol.CONNECTION_ID)) {
                    peerEnded |= open;
                }
                if (frame.kind() == FrameKind.PING && open) {
                    pings.add(frame.content().getLong(frame.content().readerIndex()));
                }
            }
            ctx.fireChannelRead(msg);
            reachedActive |= session != null && session.phase() == GatewaySession.Phase.ACTIVE;
        }

        long[] pingsWhileOpen() {
            return pings.stream().mapToLong(Long::longValue).toArray();
        }
    }

    /**
     * A public client's socket: half-closable, with writability and write failures under the test's control.
     */
    static final class FuzzClient extends DuplexEmbeddedChannel {
        boolean writable = true;
        boolean failWrites;

        FuzzClient(ByteBufAllocator alloc) {
            super();
            config().setAllocator(alloc);
            pipeline().addFirst("fuzz-failing-writes", new ChannelOutboundHandlerAdapter() {
                @Override
                public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
                    if (failWrites || outputShutdown) {
                        ReferenceCountUtil.release(msg);
                        promise.setFailure(new IOException(outputShutdown ? "fuzz: output shut down"
                                : "fuzz: connection reset by peer"));
                        return;
                    }
                    ctx.write(msg, promise);
                }
            });
        }

        @Override
        public boolean isWritable() {
            return writable && super.isWritable();
        }
    }

    private static final class Stats {
        long cases;
        long framesGenerated;
        long framesSeen;
        long handshakes;
        long active;
        long accepted;
        long clientActions;
        long framesWritten;
        long closedWithError;
        long endedByAgent;
        long timedOut;
        long pipelineArtifacts;
        long stillOpen;
        long drainedAfterLink;
        long joined;
        long acceptedOnJoined;
        final Map<String, Long> closeReasons = new java.util.TreeMap<>();
        final Map<FrameKind, Long> seenByKind = new EnumMap<>(FrameKind.class);
        final Map<FrameKind, Long> writtenByKind = new EnumMap<>(FrameKind.class);
    }

    /** A frame after which the link ends: a connection Error (id 0) or a Refuse. */
    static boolean endsLink(Frame frame) {
        return (frame.kind() == FrameKind.ERROR && frame.id() == Protocol.CONNECTION_ID)
                || frame.kind() == FrameKind.REFUSE;
    }
}
