package io.diglett.server;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.Registration;
import io.diglett.protocol.HostPort;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** An in-JVM gateway on 127.0.0.1 (port 0) and the agents a test starts against it. */
final class TunnelFixture implements AutoCloseable {

    final Gateway gateway;
    final InetSocketAddress address;
    private final List<Agent> agents = new ArrayList<>();

    TunnelFixture() throws InterruptedException {
        this(GatewayConfig.defaults());
    }

    TunnelFixture(GatewayConfig base) throws InterruptedException {
        gateway = new Gateway(base.withListen(new HostPort("127.0.0.1", 0)).withPublicBind("127.0.0.1"));
        address = gateway.start();
    }

    /** Config for an agent that exposes {@code backendPort} on 127.0.0.1 as {@code name}. */
    AgentConfig agentConfig(String name, int backendPort) {
        return AgentConfig.of(new HostPort("127.0.0.1", address.getPort()), "", name,
                new HostPort("127.0.0.1", backendPort));
    }

    /** Starts an agent (closed with the fixture) without waiting for it. */
    Agent agent(AgentConfig config) {
        Agent agent = new Agent(config);
        agents.add(agent);
        return agent;
    }

    /** Starts an agent for {@code name} and returns the public port once the tunnel is live. */
    int expose(String name, int backendPort) throws Exception {
        List<Registration> registrations = agent(agentConfig(name, backendPort)).start().get(10, TimeUnit.SECONDS);
        return registrations.get(0).publicPort();
    }

    @Override
    public void close() {
        for (Agent agent : agents) {
            agent.close();
        }
        gateway.close();
    }
}
