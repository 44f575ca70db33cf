package io.diglett.server.cluster;

import io.diglett.protocol.mux.Stream;
import io.netty.buffer.ByteBuf;
import io.netty.channel.AbstractChannel;
import io.netty.channel.Channel;
import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelMetadata;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPromise;
import io.netty.channel.DefaultChannelConfig;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.DuplexChannel;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.channels.ClosedChannelException;

/**
 * One end of an in-process duplex byte pipe: on the holder node, a stream of a node link on one end and a stream of
 * the agent's link on the other, each {@link Stream} seeing the pipe as the socket it bridges to (the node-link
 * stream's end stands for the client's socket on the entry node). Both ends live on one event loop.
 *
 * <p>It behaves as a TCP connection does for a stream, without a copy or a system call: what one end writes waits
 * in its outbound buffer (whose size its write-buffer marks judge, as for a socket) until the other end asks for a
 * read; a write completes when its bytes are delivered to the other end's pipeline, so the writing stream returns
 * credit only for bytes the other stream took. {@link #shutdownOutput()} reaches the other end, after the bytes
 * before it, as {@link ChannelInputShutdownEvent}; a close does too, and the other end's later writes fail; an
 * {@link #abort} reaches it at once as an {@link IOException} with the reason, then a close.
 */
final class PipeChannel extends AbstractChannel implements DuplexChannel {

    /** What one read delivers at most: like a socket read, so that a stream holds one read's worth unsent. */
    static final int MAX_READ = 64 * 1024;
    private static final ChannelMetadata METADATA = new ChannelMetadata(false);

    /** How a stream ends its pipe end: the output's end is a half-close, a reset aborts with the reason. */
    static final Stream.LocalEnd END = new Stream.LocalEnd() {
        @Override
        public void outputDone(Channel local) {
            ((PipeChannel) local).shutdownOutput();
        }

        @Override
        public void reset(Channel local, String reason) {
            ((PipeChannel) local).abort(reason);
        }
    };

    private final DefaultChannelConfig config = new DefaultChannelConfig(this);
    private final InetSocketAddress localAddress;
    private final InetSocketAddress remoteAddress;
    private PipeChannel peer;
    /** Read by a stream on another loop too ({@link #isActive}). */
    private volatile boolean open = true;
    private volatile boolean registered;
    /** A read was asked for (auto-read is off for a stream's socket): deliver what the peer wrote. */
    private boolean readWanted;
    private boolean deliveryQueued;
    private boolean outputShutdown;
    private boolean inputShutdown;
    /** The peer closed or aborted: writes fail. */
    private boolean peerGone;

    private PipeChannel(InetSocketAddress localAddress, InetSocketAddress remoteAddress) {
        super(null);
        this.localAddress = localAddress;
        this.remoteAddress = remoteAddress;
        config.setAutoRead(false);
    }

    /**
     * Two connected ends, registered on {@code loop} (call there): the first reports {@code a} as its local
     * address and {@code b} as its remote one, the second the other way round.
     */
    static PipeChannel[] pair(EventLoop loop, InetSocketAddress a, InetSocketAddress b) {
        PipeChannel first = new PipeChannel(a, b);
        PipeChannel second = new PipeChannel(b, a);
        first.peer = second;
        second.peer = first;
        loop.register(first);
        loop.register(second);
        return new PipeChannel[] {first, second};
    }

    // ---------------------------------------------------------------- delivery

    /** Delivers what the peer wrote, on a task of its own: a read never runs inside the call that asked for it. */
    private void deliverLater() {
        if (!deliveryQueued && open) {
            deliveryQueued = true;
            eventLoop().execute(this::deliver);
        }
    }

    private void deliver() {
        deliveryQueued = false;
        if (!open) {
            return;
        }
        ChannelOutboundBuffer from = peer.unsafe().outboundBuffer();
        int delivered = 0;
        boolean read = false;
        while (readWanted && delivered < MAX_READ && from != null && from.current() instanceof ByteBuf bytes) {
            ByteBuf data = bytes.retain();
            from.remove(); // completes the peer's write: its stream counts the bytes as taken
            delivered += data.readableBytes();
            read = true;
            pipeline().fireChannelRead(data);
            if (!open) {
                return;
            }
        }
        if (read) {
            readWanted = false;
            pipeline().fireChannelReadComplete();
        }
        if (open && !inputShutdown && (peer.outputShutdown || !peer.open) && (from == null || from.isEmpty())) {
            inputShutdown = true;
            pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
            pipeline().fireUserEventTriggered(ChannelInputShutdownReadComplete.INSTANCE);
        } else if (open && readWanted && from != null && !from.isEmpty()) {
            deliverLater(); // more than one read's worth waits
        }
    }

    @Override
    protected void doBeginRead() {
        readWanted = true;
        deliverLater();
    }

    @Override
    protected void doWrite(ChannelOutboundBuffer in) throws Exception {
        if (outputShutdown || peerGone || !peer.open) {
            Throwable cause = new ClosedChannelException();
            while (in.current() != null) {
                in.remove(cause);
            }
            return;
        }
        // the bytes wait in this end's outbound buffer (its marks judge them as for a socket) until the peer reads
        peer.deliverLater();
    }

    @Override
    protected Object filterOutboundMessage(Object msg) {
        if (msg instanceof ByteBuf) {
            return msg;
        }
        throw new UnsupportedOperationException("a pipe carries bytes, not " + msg.getClass().getSimpleName());
    }

    // ---------------------------------------------------------------- ends

    /** Ends this side's output once what it wrote is delivered: the peer reads the end of its input then. */
    @Override
    public ChannelFuture shutdownOutput() {
        return shutdownOutput(newPromise());
    }

    @Override
    public ChannelFuture shutdownOutput(ChannelPromise promise) {
        if (!eventLoop().inEventLoop()) {
            eventLoop().execute(() -> shutdownOutput(promise));
            return promise;
        }
        outputShutdown = true;
        if (peer.open) {
            peer.deliverLater();
        }
        promise.trySuccess();
        return promise;
    }

    /**
     * Ends the pipe at once: the peer gets an {@link IOException} with {@code reason} (its stream resets with it),
     * then is closed; what was not delivered is dropped.
     */
    void abort(String reason) {
        if (!eventLoop().inEventLoop()) {
            eventLoop().execute(() -> abort(reason));
            return;
        }
        PipeChannel other = peer;
        close();
        if (other.open) {
            other.peerGone = true;
            if (other.pipeline().get(io.diglett.protocol.mux.HandlerNames.STREAM) != null) {
                // its stream resets with the reason; before a stream is attached there is nobody to tell
                other.pipeline().fireExceptionCaught(new IOException(reason));
            }
            other.close();
        }
    }

    @Override
    protected void doClose() {
        boolean was = open;
        open = false;
        if (was && peer.open) {
            // a close is the end of this side's output for the peer (after what was delivered), and its writes fail
            peer.peerGone = true;
            peer.deliverLater();
        }
    }

    @Override
    public boolean isInputShutdown() {
        return inputShutdown;
    }

    @Override
    public ChannelFuture shutdownInput() {
        return shutdownInput(newPromise());
    }

    @Override
    public ChannelFuture shutdownInput(ChannelPromise promise) {
        inputShutdown = true;
        promise.trySuccess();
        return promise;
    }

    @Override
    public boolean isOutputShutdown() {
        return outputShutdown;
    }

    @Override
    public boolean isShutdown() {
        return inputShutdown && outputShutdown;
    }

    @Override
    public ChannelFuture shutdown() {
        return shutdown(newPromise());
    }

    @Override
    public ChannelFuture shutdown(ChannelPromise promise) {
        shutdownInput();
        return shutdownOutput(promise);
    }

    // ---------------------------------------------------------------- channel

    @Override
    protected AbstractUnsafe newUnsafe() {
        return new AbstractUnsafe() {
            @Override
            public void connect(SocketAddress remote, SocketAddress local, ChannelPromise promise) {
                promise.setFailure(new UnsupportedOperationException("a pipe is connected when made"));
            }
        };
    }

    @Override
    protected boolean isCompatible(EventLoop loop) {
        return true; // no I/O of its own: any event loop runs it
    }

    @Override
    protected void doRegister(ChannelPromise promise) {
        registered = true;
        promise.setSuccess();
    }

    @Override
    protected void doDeregister() {
        registered = false;
    }

    @Override
    protected SocketAddress localAddress0() {
        return localAddress;
    }

    @Override
    protected SocketAddress remoteAddress0() {
        return remoteAddress;
    }

    @Override
    public InetSocketAddress localAddress() {
        return localAddress;
    }

    @Override
    public InetSocketAddress remoteAddress() {
        return remoteAddress;
    }

    @Override
    protected void doBind(SocketAddress local) {
        throw new UnsupportedOperationException("a pipe is not bound");
    }

    @Override
    protected void doDisconnect() {
        throw new UnsupportedOperationException("a pipe is not disconnected, it is closed");
    }

    @Override
    public ChannelConfig config() {
        return config;
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public boolean isActive() {
        return open && registered;
    }

    @Override
    public ChannelMetadata metadata() {
        return METADATA;
    }

    @Override
    public String toString() {
        return "Pipe(" + localAddress + " <-> " + remoteAddress + (open ? "" : ", closed") + ")";
    }

}
