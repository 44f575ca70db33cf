package io.diglett.agent;

import io.diglett.protocol.FrameDecoder;
import io.diglett.protocol.FrameEncoder;
import io.diglett.protocol.HandshakeDecoder;
import io.diglett.protocol.mux.HandlerNames;
import io.diglett.protocol.transport.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProtocols;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent: one link to the gateway that carries every public connection of its names to their backends.
 * The link and all backend connections share one event loop.
 */
public final class Agent implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Agent.class);

    static final WriteBufferWaterMark LINK_WATER_MARK = new WriteBufferWaterMark(512 * 1024, 1024 * 1024);

    private final AgentConfig config;
    private final Transport transport = Transport.best();
    private final EventLoopGroup group;
    private final CompletableFuture<List<Registration>> online = new CompletableFuture<>();
    private final CompletableFuture<String> closed = new CompletableFuture<>();
    private volatile Channel link;

    public Agent(AgentConfig config) {
        this.config = config;
        this.group = transport.newGroup(1, "diglett-agent");
    }

    /**
     * Resolves the backends, dials the gateway and registers the names. The future completes with the
     * registrations once the tunnels are live, or exceptionally: {@link RejectedException} when the gateway
     * refused (token, name), an {@link IOException} when it could not be reached.
     */
    public CompletableFuture<List<Registration>> start() {
        List<AgentSession.Target> targets = new ArrayList<>();
        int registration = 1;
        try {
            for (TunnelSpec spec : config.tunnels()) {
                InetSocketAddress backend = new InetSocketAddress(spec.backend().host(), spec.backend().port());
                if (backend.isUnresolved()) {
                    throw new UnknownHostException("cannot resolve backend host '" + spec.backend().host() + "'");
                }
                targets.add(new AgentSession.Target(registration++, spec, backend));
            }
        } catch (UnknownHostException e) {
            online.completeExceptionally(e);
            closed.complete(e.getMessage());
            return online;
        }
        SslContext tls;
        try {
            tls = config.trust().plaintext() ? null : SslContextBuilder.forClient()
                    .protocols(SslProtocols.TLS_v1_3)
                    .endpointIdentificationAlgorithm("HTTPS")
                    .trustManager(new GatewayTrustManager(config.trust(), config.gateway().toString()))
                    .build();
        } catch (GeneralSecurityException | SSLException e) {
            online.completeExceptionally(e);
            closed.complete("cannot set up TLS: " + e.getMessage());
            return online;
        }
        if (config.trust().plaintext()) {
            log.warn("--plaintext: the link to the gateway is neither encrypted nor authenticated");
        }
        Bootstrap bootstrap = new Bootstrap()
                .group(group)
                .channel(transport.socketChannel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, config.connectTimeoutMillis())
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, LINK_WATER_MARK)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (tls != null) {
                            ch.pipeline().addLast(HandlerNames.TLS,
                                    tls.newHandler(ch.alloc(), config.gateway().host(), config.gateway().port()));
                        }
                        ch.pipeline()
                                .addLast(HandlerNames.HANDSHAKE, new HandshakeDecoder())
                                .addLast(HandlerNames.FRAME_DECODER, new FrameDecoder())
                                .addLast(HandlerNames.FRAME_ENCODER, FrameEncoder.INSTANCE)
                                .addLast(HandlerNames.SESSION,
                                        new AgentSession(config, transport, targets, online, closed));
                    }
                });
        ChannelFuture connect = bootstrap.connect(config.gateway().host(), config.gateway().port());
        link = connect.channel();
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                String reason = "cannot reach gateway " + config.gateway() + ": " + f.cause().getMessage();
                online.completeExceptionally(new IOException(reason, f.cause()));
                closed.complete(reason);
            }
        });
        return online;
    }

    /** Completes, with the reason, when the link to the gateway is gone. */
    public CompletableFuture<String> closed() {
        return closed;
    }

    /** Closes the link and stops the event loop; waits for both unless called on the agent's own thread. */
    @Override
    public void close() {
        Channel channel = link;
        if (group.next().inEventLoop()) {
            // called from a callback of our own futures: waiting here would wait for ourselves
            if (channel != null) {
                channel.close();
            }
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            return;
        }
        if (channel != null) {
            channel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
