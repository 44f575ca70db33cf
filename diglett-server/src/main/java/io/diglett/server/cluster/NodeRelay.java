package io.diglett.server.cluster;

import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.mux.Stream;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.channel.socket.DuplexChannel;

/**
 * Relays bytes between a public client and the node that holds its name, both on the client's event loop. Each
 * side is read only while the other takes its bytes (its write buffer under the high water mark), so what is held
 * in between is bounded by the marks. The client's end of input becomes a half-close toward the holder; the
 * holder's becomes {@link Stream.LocalEnd#outputDone} for the client (an HTTP client without a response yet gets
 * an error page from the ingress); a lost holder connection is a {@link Stream.LocalEnd#reset}.
 */
final class NodeRelay extends ChannelDuplexHandler {

    private final Channel other;
    private final boolean clientSide;
    private final Stream.LocalEnd end;
    private ChannelHandlerContext ctx;
    /** Whether a read may be asked of this side now (its bytes were taken). */
    private boolean wantRead = true;
    private boolean inputDone;

    private NodeRelay(Channel other, boolean clientSide, Stream.LocalEnd end) {
        this.other = other;
        this.clientSide = clientSide;
        this.end = end;
    }

    /**
     * Relays between {@code client} and {@code node}; call on their (common) event loop. The client is read once
     * the handler before this one lets reads through (the ingress, once it passed on what it held).
     */
    static void join(Channel client, Channel node, Stream.LocalEnd end) {
        client.config().setAutoRead(false);
        NodeRelay toNode = new NodeRelay(node, true, end);
        NodeRelay toClient = new NodeRelay(client, false, end);
        client.pipeline().addLast(HandlerNames.STREAM, toNode);
        node.pipeline().replace(HandlerNames.SESSION, HandlerNames.STREAM, toClient);
        toNode.ask();
        toClient.ask();
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    /** Reads from this side if the other takes bytes now. */
    private void ask() {
        if (!inputDone && other.isWritable() && ctx.channel().isActive()) {
            ctx.read();
        } else {
            wantRead = true;
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (clientSide) {
            other.write(msg);
        } else {
            // toward the client through its pipeline from the relay's place: the ingress sees the response
            NodeRelay peer = (NodeRelay) other.pipeline().get(HandlerNames.STREAM);
            if (peer == null) {
                io.netty.util.ReferenceCountUtil.release(msg);
                return;
            }
            peer.ctx.write(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (clientSide) {
            other.flush();
        } else {
            NodeRelay peer = (NodeRelay) other.pipeline().get(HandlerNames.STREAM);
            if (peer != null) {
                peer.ctx.flush();
            }
        }
        ask();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            NodeRelay peer = (NodeRelay) other.pipeline().get(HandlerNames.STREAM);
            if (peer != null && peer.wantRead) {
                peer.wantRead = false;
                peer.ask();
            }
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == ChannelInputShutdownEvent.INSTANCE) {
            inputDone = true;
            // what is queued toward the other side is written first: a half-close (or the stream end's
            // handling) drops whatever is still in the channel's outbound buffer
            if (clientSide) {
                other.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(f -> {
                    if (other instanceof DuplexChannel duplex) {
                        duplex.shutdownOutput();
                    } else {
                        other.close();
                    }
                });
            } else {
                NodeRelay peer = (NodeRelay) other.pipeline().get(HandlerNames.STREAM);
                if (peer == null) {
                    end.outputDone(other);
                } else {
                    peer.ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER)
                            .addListener(f -> end.outputDone(other));
                }
            }
        } else if (evt != ChannelInputShutdownReadComplete.INSTANCE) {
            ctx.fireUserEventTriggered(evt);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (clientSide) {
            other.close();
        } else if (inputDone) {
            // the holder ended its output, then closed (the stream ended): the client closes once what is on its
            // way is written, after whatever the ingress does for that output's end (a task of its own)
            other.eventLoop().execute(() -> other.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER)
                    .addListener(io.netty.channel.ChannelFutureListener.CLOSE));
        } else if (other.isActive()) {
            end.reset(other, "the connection to the node that holds the name was lost");
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
