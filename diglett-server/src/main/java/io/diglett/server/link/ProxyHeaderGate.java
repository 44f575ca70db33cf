package io.diglett.server.link;

import io.diglett.protocol.Printable;
import io.diglett.server.config.ForwardingSettings;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageDecoder;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import io.netty.util.NetUtil;
import io.netty.util.ReferenceCountUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A public connection from an upstream of {@code --accept-proxy-from} (an L4 load balancer) starts with a PROXY
 * protocol header, version 1 or 2, read by Netty's {@link HAProxyMessageDecoder}: its client and destination
 * become the connection's {@link ClientAddress}, then the connection is set up as any other and the bytes after
 * the header go on to it. A connection that sends no valid header within the timeout, or anything else first,
 * is closed; nothing of it reached a tunnel. A LOCAL header (the balancer's own health check) or one for an
 * unknown protocol keeps the socket's addresses.
 */
public final class ProxyHeaderGate extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(ProxyHeaderGate.class);

    private final long timeoutMillis;
    private final Runnable then;
    private ScheduledFuture<?> timeout;
    private boolean passed;

    private ProxyHeaderGate(long timeoutMillis, Runnable then) {
        this.timeoutMillis = timeoutMillis;
        this.then = then;
    }

    /**
     * Sets {@code channel} (accepted, auto-read off) up with {@code setUp}: at once when it does not come from an
     * upstream of {@code forwarding}, else once its PROXY header was read (within {@code timeoutMillis}).
     */
    public static void setUp(Channel channel, ForwardingSettings forwarding, long timeoutMillis, Runnable setUp) {
        if (!(channel.remoteAddress() instanceof InetSocketAddress inet) || inet.getAddress() == null
                || !forwarding.proxyFrom(inet.getAddress())) {
            setUp.run();
            return;
        }
        channel.pipeline().addLast(new HAProxyMessageDecoder(), new ProxyHeaderGate(timeoutMillis, setUp));
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        timeout = ctx.executor().schedule(() -> {
            if (!passed) {
                log.debug("client={} sent no PROXY header within {} ms, closing", ctx.channel().remoteAddress(),
                        timeoutMillis);
                ctx.close();
            }
        }, timeoutMillis, TimeUnit.MILLISECONDS);
        if (ctx.channel().isActive()) {
            ctx.read();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.read();
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (passed || !(msg instanceof HAProxyMessage header)) {
            ReferenceCountUtil.release(msg); // nothing comes before the header: the decoder holds it
            return;
        }
        try {
            passed = true;
            timeout.cancel(false);
            InetSocketAddress source = address(header.sourceAddress(), header.sourcePort(), header);
            InetSocketAddress destination = address(header.destinationAddress(), header.destinationPort(), header);
            if (source != null && destination != null) {
                ctx.channel().attr(ClientAddress.FROM_PROXY_HEADER).set(new InetSocketAddress[] {source,
                    destination});
            }
            log.debug("upstream={} PROXY {} client={}", ctx.channel().remoteAddress(), header.command(),
                    ClientAddress.remote(ctx.channel()));
        } finally {
            header.release();
        }
        Channel channel = ctx.channel();
        ctx.pipeline().remove(this);
        // the decoder is still in place: once this returns, it removes itself and hands the bytes after the
        // header to what setUp adds
        then.run();
        if (channel.isActive()) {
            channel.read(); // handlers added to an active channel may never see channelActive ask for one
        }
    }

    /** The header's address, or {@code null} for a LOCAL command or an unknown protocol. */
    private static InetSocketAddress address(String ip, int port, HAProxyMessage header) {
        if (header.command() != HAProxyCommand.PROXY || ip == null
                || header.proxiedProtocol().transportProtocol() == HAProxyProxiedProtocol.TransportProtocol.UNSPEC
                || header.proxiedProtocol().addressFamily() == HAProxyProxiedProtocol.AddressFamily.AF_UNIX
                || header.proxiedProtocol().addressFamily() == HAProxyProxiedProtocol.AddressFamily.AF_UNSPEC) {
            return null;
        }
        InetAddress address = NetUtil.createInetAddressFromIpAddressString(ip); // a literal, never resolved
        return address == null ? null : new InetSocketAddress(address, port);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (!passed) {
            ctx.read(); // the header is not complete yet
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (passed) {
            ctx.fireExceptionCaught(cause);
            return;
        }
        log.debug("upstream={} sent no valid PROXY header, closing: {}", ctx.channel().remoteAddress(),
                Printable.of(String.valueOf(cause.getMessage())));
        ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (timeout != null) {
            timeout.cancel(false);
        }
        ctx.fireChannelInactive();
    }
}
