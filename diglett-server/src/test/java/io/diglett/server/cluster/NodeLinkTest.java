package io.diglett.server.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.diglett.protocol.mux.FlowLimits;
import io.diglett.protocol.mux.Stream;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The entry's side of a node link before its handshake is done: who may wait for it, and what they are told. */
class NodeLinkTest {

    @Test
    void atMostItsBoundOfConnectionsWaitForTheHandshakeAndAFailedOneTellsEachWhy() {
        AtomicInteger gone = new AtomicInteger();
        NodeLink link = new NodeLink("web", "b", new byte[32], 1 << 18, FlowLimits.unbounded(),
                gone::incrementAndGet);
        List<String> answers = new ArrayList<>();
        List<EmbeddedChannel> clients = new ArrayList<>();
        for (int i = 0; i <= NodeLink.MAX_WAITING; i++) {
            EmbeddedChannel client = new EmbeddedChannel();
            clients.add(client);
            link.open(7, client, Stream.TCP, answers::add);
        }
        assertEquals(List.of(NodeLink.MAX_WAITING + " connections already wait for the node link to node b"),
                answers, "only the one over the bound is answered now");
        link.dialFailed("node b (127.0.0.3:7000) that holds 'web' cannot be reached: Connection refused");
        assertEquals(NodeLink.MAX_WAITING + 1, answers.size());
        assertTrue(answers.subList(1, answers.size()).stream().allMatch(
                ("node link to node b closed: node b (127.0.0.3:7000) that holds 'web' cannot be reached:"
                        + " Connection refused")::equals), answers.get(1));
        assertEquals(1, gone.get(), "the link left its forwarder's table once");
        List<String> late = new ArrayList<>();
        link.open(7, clients.get(0), Stream.TCP, late::add);
        assertEquals(1, late.size(), "a link that ended takes no more: " + late);
        clients.forEach(EmbeddedChannel::finishAndReleaseAll);
    }
}
