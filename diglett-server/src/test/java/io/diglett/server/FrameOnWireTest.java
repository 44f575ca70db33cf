package io.diglett.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.diglett.common.transport.Tls;
import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameEncoder;
import io.diglett.protocol.Protocol;
import io.diglett.protocol.mux.StreamReads;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.handler.ssl.util.SelfSignedCertificate;
import io.netty.util.ReferenceCountUtil;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A full stream read, framed and encrypted as the link sends it (the programs' TLS 1.3 provider), fits the
 * packet sizes {@link StreamReads#MAX_READ} is chosen for: one loopback segment, 45 whole Ethernet segments.
 */
class FrameOnWireTest {

    /** TCP's maximum segment on loopback (MTU 65,536, timestamps on): what {@code ss -ti} shows as mss. */
    private static final int LOOPBACK_MSS = 65_483;
    private static final int ETHERNET_MSS = 1_448;

    private EmbeddedChannel client;
    private EmbeddedChannel server;

    @BeforeEach
    void handshake() throws Exception {
        @SuppressWarnings("deprecation") // Netty 4.2 points to netty-pkitesting instead: a dependency for one test
        SelfSignedCertificate cert = new SelfSignedCertificate("gateway.test");
        SslContext serverContext = SslContextBuilder.forServer(cert.certificate(), cert.privateKey())
                .sslProvider(Tls.provider()).protocols("TLSv1.3").build();
        SslContext clientContext = SslContextBuilder.forClient().sslProvider(Tls.provider())
                .trustManager(InsecureTrustManagerFactory.INSTANCE).protocols("TLSv1.3").build();
        SslHandler serverTls = serverContext.newHandler(ByteBufAllocator.DEFAULT);
        SslHandler clientTls = clientContext.newHandler(ByteBufAllocator.DEFAULT);
        server = new EmbeddedChannel(serverTls);
        client = new EmbeddedChannel(clientTls, FrameEncoder.INSTANCE);
        for (int i = 0; i < 20 && !(clientTls.handshakeFuture().isDone() && serverTls.handshakeFuture().isDone());
                i++) {
            shuttle(client, server);
            shuttle(server, client);
        }
        assertTrue(clientTls.handshakeFuture().isSuccess(), "handshake");
        assertTrue(serverTls.handshakeFuture().isSuccess(), "handshake");
        releaseAll(client);
        releaseAll(server);
        cert.delete();
    }

    @AfterEach
    void close() {
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }

    @Test
    void aFullReadLeavesAsOneLoopbackSegmentAndWholeEthernetSegments() {
        // the sizes are BoringSSL's, the programs' TLS wherever netty-tcnative loads (Linux x86-64 and ARM64):
        // the JDK's engine fills records with 16,383 bytes and so takes 64 bytes more for the same frame
        assumeTrue(Tls.provider() == SslProvider.OPENSSL, "BoringSSL is not available here");
        byte[] data = new byte[StreamReads.MAX_READ];
        new Random(7).nextBytes(data);
        // as a stream-socket read lands: at offset HEADER_LENGTH of its buffer
        ByteBuf read = client.alloc().directBuffer(Protocol.HEADER_LENGTH + data.length);
        read.setIndex(Protocol.HEADER_LENGTH, Protocol.HEADER_LENGTH).writeBytes(data);
        client.writeAndFlush(Frame.payloadWithHeaderRoom(1, read));

        ByteBuf wire = Unpooled.buffer();
        Object out;
        while ((out = client.readOutbound()) != null) {
            wire.writeBytes((ByteBuf) out);
            ReferenceCountUtil.release(out);
        }
        try {
            assertEquals(StreamReads.FRAME_ON_WIRE, wire.readableBytes(), "one frame, encrypted");
            assertTrue(wire.readableBytes() <= LOOPBACK_MSS, "one loopback segment: " + wire.readableBytes());
            assertEquals(0, wire.readableBytes() % ETHERNET_MSS, "whole Ethernet segments");

            // and it is the frame: header, then the read
            server.writeInbound(wire.retain());
            ByteBuf plain = Unpooled.buffer();
            Object in;
            while ((in = server.readInbound()) != null) {
                plain.writeBytes((ByteBuf) in);
                ReferenceCountUtil.release(in);
            }
            assertEquals(Protocol.HEADER_LENGTH + data.length, plain.readableBytes());
            byte[] payload = new byte[data.length];
            plain.getBytes(Protocol.HEADER_LENGTH, payload);
            assertArrayEquals(data, payload);
            plain.release();
        } finally {
            wire.release();
        }
    }

    private static void shuttle(EmbeddedChannel from, EmbeddedChannel to) {
        Object msg;
        while ((msg = from.readOutbound()) != null) {
            to.writeInbound(msg);
        }
    }

    private static void releaseAll(EmbeddedChannel channel) {
        Object msg;
        while ((msg = channel.readOutbound()) != null) {
            ReferenceCountUtil.release(msg);
        }
        while ((msg = channel.readInbound()) != null) {
            ReferenceCountUtil.release(msg);
        }
    }
}
