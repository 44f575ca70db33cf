package io.diglett.bench;

import io.diglett.common.transport.Tls;
import io.diglett.protocol.Frame;
import io.diglett.protocol.FrameEncoder;
import io.diglett.protocol.Protocol;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.handler.ssl.util.SelfSignedCertificate;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The send side of a TLS agent link: a full stream read (65,065 bytes) becomes a Payload frame, is encoded and
 * encrypted by the link's TLS handler (the programs' provider, BoringSSL where it loads). {@code headerRoom}
 * compares the read buffer with room for the header in front ({@code StreamReads}: header and payload one
 * buffer, encrypted in place) with a plain read buffer (the header in a buffer of its own, so the TLS handler
 * copies both into 16 KiB pieces first). Frames per second, payload bytes per second
 * ({@code bytes}).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class LinkSendBenchmark {

    private static final int READ = io.diglett.protocol.mux.StreamReads.MAX_READ;

    @Param({"true", "false"})
    boolean headerRoom;

    private EmbeddedChannel client;
    private EmbeddedChannel server;
    private byte[] data;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        @SuppressWarnings("deprecation") // Netty 4.2 points to netty-pkitesting instead: a dependency for one certificate
        SelfSignedCertificate cert = new SelfSignedCertificate("bench");
        SslContext serverContext = SslContextBuilder.forServer(cert.certificate(), cert.privateKey())
                .sslProvider(Tls.provider()).protocols("TLSv1.3").build();
        SslContext clientContext = SslContextBuilder.forClient().sslProvider(Tls.provider())
                .trustManager(InsecureTrustManagerFactory.INSTANCE).protocols("TLSv1.3").build();
        SslHandler serverTls = serverContext.newHandler(ByteBufAllocator.DEFAULT);
        SslHandler clientTls = clientContext.newHandler(ByteBufAllocator.DEFAULT);
        server = new EmbeddedChannel(serverTls);
        client = new EmbeddedChannel(clientTls, FrameEncoder.INSTANCE);
        // hand the handshake back and forth until both sides are done
        for (int i = 0; i < 20 && !(clientTls.handshakeFuture().isDone() && serverTls.handshakeFuture().isDone());
                i++) {
            shuttle(client, server);
            shuttle(server, client);
        }
        if (!clientTls.handshakeFuture().isSuccess()) {
            throw new IllegalStateException("TLS handshake failed", clientTls.handshakeFuture().cause());
        }
        drain(client);
        drain(server);
        data = new byte[READ];
    }

    private static void shuttle(EmbeddedChannel from, EmbeddedChannel to) {
        Object msg;
        while ((msg = from.readOutbound()) != null) {
            to.writeInbound(msg);
        }
    }

    private static void drain(EmbeddedChannel channel) {
        Object msg;
        while ((msg = channel.readOutbound()) != null) {
            ReferenceCountUtil.release(msg);
        }
        while ((msg = channel.readInbound()) != null) {
            ReferenceCountUtil.release(msg);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }

    @Benchmark
    public int readToEncryptedFrame(PayloadBytes moved) {
        // the socket read: the data at offset HEADER_LENGTH of its buffer, or at 0 without room
        int room = headerRoom ? Protocol.HEADER_LENGTH : 0;
        ByteBuf read = client.alloc().directBuffer(room + READ);
        read.setIndex(room, room).writeBytes(data);
        client.writeAndFlush(headerRoom ? Frame.payloadWithHeaderRoom(1, read) : Frame.payload(1, read));
        int sent = 0;
        Object out;
        while ((out = client.readOutbound()) != null) {
            sent += ((ByteBuf) out).readableBytes();
            ReferenceCountUtil.release(out);
        }
        moved.bytes += READ;
        return sent;
    }
}
