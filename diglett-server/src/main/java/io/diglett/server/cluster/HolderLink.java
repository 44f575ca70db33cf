package io.diglett.server.cluster;

import io.diglett.common.logging.RateLimitedLog;
import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameKind;
import io.diglett.protocol.Handshake;
import io.diglett.protocol.Printable;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.mux.FlowLimits;
import io.diglett.protocol.mux.LinkSession;
import io.diglett.protocol.mux.Stream;
import io.diglett.protocol.mux.StreamObserver;
import io.diglett.protocol.mux.StreamState;
import io.diglett.protocol.node.NodeForward;
import io.diglett.server.link.ClientAddress;
import io.diglett.server.link.Tunnel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The holder's side of a node link (docs/protocol.md, section 10): the streams of one name's public connections
 * that reached another node. Each Open is checked (the name live here, under the claim the entry saw) and becomes
 * a stream of the node link joined by a {@link PipeChannel} to a stream of the agent's link, opened as for a client
 * of this node, with the client's address the Open gave. Credit flows end to end: a stream returns credit only
 * for bytes the other stream took. Runs on the node link's event loop, the loop of one of the agent's links.
 */
final class HolderLink extends LinkSession {

    private static final Logger log = LoggerFactory.getLogger(HolderLink.class);
    private static final RateLimitedLog REFUSED = RateLimitedLog.perSecond(log);

    private final EtcdNameRegistry names;
    private final String name;
    /** Streams the link may have open: as many as the agent may (--max-streams-per-agent); more are refused. */
    private final int maxStreams;

    HolderLink(EtcdNameRegistry names, String name, int window, FlowLimits limits, int maxStreams) {
        super(window, limits);
        this.names = names;
        this.name = name;
        this.maxStreams = maxStreams;
    }

    @Override
    protected void onHandshake(Handshake handshake) {
        throw new io.diglett.protocol.ProtocolException("no handshake on a node link");
    }

    @Override
    protected boolean streamsAllowed() {
        return true;
    }

    @Override
    protected void onFrame(Frame frame) {
        if (frame.kind() == FrameKind.OPEN) {
            open(frame);
        } else if (frame.kind() != FrameKind.TERMINATE) {
            fail("unexpected " + frame.kind() + " frame on a node link");
        }
    }

    private void open(Frame frame) {
        int id = frame.id();
        if (id == Protocol.CONNECTION_ID || mux.contains(id)) {
            fail("Open for stream " + Integer.toUnsignedString(id) + ", which is 0 or open");
            return;
        }
        NodeForward.Open open = NodeForward.Open.decode(frame);
        Tunnel tunnel = names.lookup(name).filter(Tunnel::live).orElse(null);
        String refused = refusal(open, tunnel);
        if (refused != null) {
            REFUSED.warn("name={} client={} from node link {} refused: {}", name, open.client(), peer(), refused);
            if (mux.writeControl(Frame.error(ctx.alloc(), id, refused))) {
                mux.flushLinkLater();
            }
            return;
        }
        PipeChannel[] pipe = PipeChannel.pair(ctx.channel().eventLoop(), open.destination(), open.client());
        // the marks of a client's socket on this node: a window of queued writes before a stream gathers its bytes
        for (PipeChannel end : pipe) {
            end.config().setWriteBufferWaterMark(Stream.socketWaterMark(mux.receiveWindow()));
        }
        Stream stream = mux.create(id, name, StreamObserver.NONE,
                io.diglett.server.link.ClientConnections.Source.of(open.client()));
        stream.attach(pipe[0], PipeChannel.END);
        if (stream.state() == StreamState.CLOSED) {
            return;
        }
        stream.opened(open.window());
        mux.write(Frame.opened(ctx.alloc(), id, stream.window()));
        mux.flushLinkLater();
        ClientAddress.given(pipe[1], open.client(), open.destination());
        log.debug("stream={} name={} client={} forwarded over the node link from {}", Integer.toUnsignedString(id),
                name, open.client(), peer());
        tunnel.openStream(pipe[1], PipeChannel.END, busy -> {
            if (busy != null) {
                pipe[1].abort(busy);
            }
        });
    }

    /** Why this node cannot take {@code open} for {@code tunnel} (the name's live tunnel here, if any), or null. */
    private String refusal(NodeForward.Open open, Tunnel tunnel) {
        if (names.partitioned()) {
            return "node " + names.node() + " cannot reach the cluster store, which the other nodes can";
        }
        if (mux.size() >= maxStreams) {
            return "node link busy: " + mux.size() + " streams open";
        }
        if (tunnel == null) {
            return "name '" + name + "' is not served by this node";
        }
        if (tunnel.fence() != open.fence()) {
            return "name '" + name + "' is held here under claim " + tunnel.fence() + ", not " + open.fence();
        }
        return null;
    }

    @Override
    protected void logEnd(String reason) {
        log.warn("closing the node link from {} for '{}': {}", peer(), name, Printable.of(reason));
    }

    @Override
    protected void onClosed() {
        log.debug("node link from {} for '{}' closed", peer(), name);
    }
}
