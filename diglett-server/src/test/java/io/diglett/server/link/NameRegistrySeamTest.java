package io.diglett.server.link;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameDecoder;
import io.diglett.protocol.FrameEncoder;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Handshake;
import io.diglett.protocol.HandshakeDecoder;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.Requests;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.server.auth.Authenticator;
import io.diglett.server.link.NameRegistry.Change;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.registrar.Registrar;
import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The {@link NameRegistry} seam behaves as a remote store would make it: a claim that completes later holds the
 * registration until it does, a store that fails fails the link (the agent retries), and a claim the store takes
 * away ends the link that held the name. Driven through a real {@link GatewaySession} on an EmbeddedChannel.
 */
class NameRegistrySeamTest {

    /** A store whose answers the test gives: claims wait until granted, refused, failed or revoked. */
    static final class DeferredRegistry implements NameRegistry {
        final Map<String, CompletableFuture<NameClaim>> pending = new ConcurrentHashMap<>();
        final Map<String, Claim> held = new ConcurrentHashMap<>();
        final List<Change> changes = new ArrayList<>();
        private long fences;

        final class Claim implements NameClaim {
            final Tunnel tunnel;
            final long fence = ++fences;
            final CompletableFuture<String> lost = new CompletableFuture<>();

            Claim(Tunnel tunnel) {
                this.tunnel = tunnel;
            }

            @Override
            public String name() {
                return tunnel.name();
            }

            @Override
            public long fence() {
                return fence;
            }

            @Override
            public CompletionStage<Void> release() {
                if (held.remove(tunnel.name(), this)) {
                    changes.add(new Change(Change.Kind.RELEASED, tunnel.name(), fence));
                }
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public CompletionStage<String> lost() {
                return lost;
            }
        }

        final Map<String, Tunnel> claimants = new ConcurrentHashMap<>();

        @Override
        public CompletionStage<NameClaim> claim(Tunnel tunnel) {
            CompletableFuture<NameClaim> answer = new CompletableFuture<>();
            pending.put(tunnel.name(), answer);
            claimants.put(tunnel.name(), tunnel);
            return answer;
        }

        void grant(String name) {
            Claim claim = new Claim(claimants.get(name));
            held.put(name, claim);
            changes.add(new Change(Change.Kind.CLAIMED, name, claim.fence));
            pending.remove(name).complete(claim);
        }

        void fail(String name, Throwable error) {
            pending.remove(name).completeExceptionally(error);
        }

        void revoke(String name, String reason) {
            Claim claim = held.remove(name);
            changes.add(new Change(Change.Kind.LOST, name, claim.fence));
            claim.lost.complete(reason);
        }

        @Override
        public Optional<Tunnel> lookup(String name) {
            Claim claim = held.get(name);
            return claim == null ? Optional.empty() : Optional.of(claim.tunnel);
        }

        @Override
        public List<Tunnel> live() {
            return held.values().stream().map(c -> c.tunnel).filter(Tunnel::live).toList();
        }

        @Override
        public int size() {
            return held.size() + pending.size();
        }

        @Override
        public void subscribe(Listener listener) {
        }
    }

    private static final SocketAddress LISTENER_ADDRESS = new InetSocketAddress("127.0.0.1", 40123);

    private final DeferredRegistry names = new DeferredRegistry();
    private final List<EmbeddedChannel> listeners = new ArrayList<>();
    /** When set, the binder throws this instead of returning a future (a plug-in seam gone wrong). */
    private RuntimeException binderThrows;
    private final EmbeddedChannel link;
    private final EmbeddedChannel agent = new EmbeddedChannel(new HandshakeDecoder(), new FrameDecoder());
    /** Every message the gateway sent, released after the test. */
    private final List<Object> seen = new ArrayList<>();

    NameRegistrySeamTest() {
        GatewayConfig config = GatewayConfig.defaults();
        Registrations registrations = new Registrations(names, Authenticator.open(), Registrar.log(),
                (tunnel, loop) -> {
                    if (binderThrows != null) {
                        throw binderThrows;
                    }
                    EmbeddedChannel listener = new EmbeddedChannel() {
                        @Override
                        public SocketAddress localAddress() {
                            return LISTENER_ADDRESS;
                        }
                    };
                    listeners.add(listener);
                    return loop.newSucceededFuture(listener);
                }, LinkEvents.NONE, Clock.systemUTC());
        GatewaySession session = new GatewaySession(new LinkServices(() -> config, registrations, LinkEvents.NONE,
                tunnel -> List.of(), System::nanoTime, io.diglett.protocol.mux.FlowLimits.unbounded(), new LinkGroups()));
        link = new EmbeddedChannel();
        link.pipeline()
                .addLast(HandlerNames.HANDSHAKE, new HandshakeDecoder())
                .addLast(HandlerNames.FRAME_DECODER, new FrameDecoder())
                .addLast(HandlerNames.FRAME_ENCODER, FrameEncoder.INSTANCE)
                .addLast(HandlerNames.SESSION, session);
        link.pipeline().fireChannelActive();
    }

    @AfterEach
    void close() {
        link.finishAndReleaseAll();
        agent.finishAndReleaseAll();
        listeners.forEach(EmbeddedChannel::finishAndReleaseAll);
        seen.forEach(io.netty.util.ReferenceCountUtil::release);
    }

    private void send(Object frameOrBytes) {
        EmbeddedChannel encoder = new EmbeddedChannel(FrameEncoder.INSTANCE);
        encoder.writeOutbound(frameOrBytes);
        ByteBuf bytes;
        while ((bytes = encoder.readOutbound()) != null) {
            link.writeInbound(bytes);
        }
        encoder.finishAndReleaseAll();
        link.runPendingTasks();
    }

    /** What the gateway sent since the last call, decoded (the handshake reply first, as a {@link Handshake}). */
    private List<Object> received() {
        link.runPendingTasks();
        List<Object> out = new ArrayList<>();
        Object msg;
        while ((msg = link.readOutbound()) != null) {
            agent.writeInbound(msg);
        }
        while ((msg = agent.readInbound()) != null) {
            out.add(msg);
            seen.add(msg);
        }
        return out;
    }

    private Frame only(List<Object> messages) {
        assertEquals(1, messages.size(), "one frame: " + messages);
        return (Frame) messages.get(0);
    }

    private void loggedInWithRegistration() {
        send(Handshake.encode(link.alloc()));
        send(Frame.login(link.alloc(), ""));
        List<Object> replies = received();
        assertEquals(new Handshake(Protocol.VERSION), replies.get(0));
        {
            Frame ok = (Frame) replies.get(1);
            assertEquals(FrameKind.OK, ok.kind());
        }
        send(Frame.register(link.alloc(), 1, "web"));
    }

    @Test
    void aClaimThatCompletesLaterHoldsTheRegistrationUntilItDoes() {
        loggedInWithRegistration();
        send(Frame.finishRegister());
        assertEquals(List.of(), received(), "nothing is answered while the store has not answered");
        assertTrue(listeners.isEmpty(), "no listener is bound before the name is held");
        names.grant("web");
        List<Object> replies = received();
        assertEquals(2, replies.size(), "Registered, then Ok(0): " + replies);
        {
            Frame registered = (Frame) replies.get(0);
            Frame active = (Frame) replies.get(1);
            assertEquals(FrameKind.OK, registered.kind());
            assertEquals(1, registered.id());
            assertEquals(40123, Requests.Registered.decode(registered).port());
            assertEquals(FrameKind.OK, active.kind());
            assertEquals(Protocol.CONNECTION_ID, active.id());
        }
        Tunnel tunnel = names.lookup("web").orElseThrow();
        assertTrue(tunnel.live());
        assertTrue(listeners.get(0).config().isAutoRead(), "the listener accepts once live");
        link.close();
        link.runPendingTasks();
        assertFalse(tunnel.live());
        assertNull(names.held.get("web"), "released when the link closed");
        assertEquals(List.of(Change.Kind.CLAIMED, Change.Kind.RELEASED),
                names.changes.stream().map(Change::kind).toList());
    }

    @Test
    void aStoreThatFailsFailsTheLinkWithTheReason() {
        loggedInWithRegistration();
        names.fail("web", new java.io.IOException("etcd unreachable"));
        {
            Frame error = only(received());
            assertEquals(FrameKind.ERROR, error.kind());
            assertEquals(Protocol.CONNECTION_ID, error.id());
            assertEquals("cannot claim the name 'web': etcd unreachable", error.text());
        }
        assertTrue(listeners.isEmpty());
    }

    @Test
    void aClaimTheStoreTakesAwayEndsTheLinkThatHeldIt() {
        loggedInWithRegistration();
        names.grant("web");
        send(Frame.finishRegister());
        received();
        Tunnel tunnel = names.claimants.get("web");
        assertTrue(tunnel.live());
        names.revoke("web", "lease expired");
        {
            Frame error = only(received());
            assertEquals(FrameKind.ERROR, error.kind());
            assertEquals(Protocol.CONNECTION_ID, error.id());
            assertEquals("the name 'web' was lost: lease expired", error.text());
        }
        link.runPendingTasks();
        link.advanceTimeBy(2, java.util.concurrent.TimeUnit.SECONDS);
        link.runScheduledPendingTasks();
        assertFalse(listeners.get(0).isOpen(), "its public listener is closed");
    }


    @Test
    void aClaimGrantedAfterTheLinkClosedIsGivenBackAndBindsNothing() {
        loggedInWithRegistration();
        link.close();
        link.runPendingTasks();
        names.grant("web");
        link.runPendingTasks();
        assertNull(names.held.get("web"), "the name is free again");
        assertTrue(listeners.isEmpty(), "no listener for a dead link");
        assertEquals(List.of(Change.Kind.CLAIMED, Change.Kind.RELEASED),
                names.changes.stream().map(Change::kind).toList());
    }

    @Test
    void aBinderThatThrowsFailsTheLinkAndGivesTheNameBack() {
        binderThrows = new IllegalStateException("binder broke");
        loggedInWithRegistration();
        names.grant("web");
        {
            Frame error = only(received());
            assertEquals(FrameKind.ERROR, error.kind());
            assertEquals("cannot open a public port for 'web': binder broke", error.text());
        }
        assertNull(names.held.get("web"), "the claim is released");
    }
}
