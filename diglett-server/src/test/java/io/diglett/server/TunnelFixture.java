package io.diglett.server;

import io.diglett.server.auth.Authenticator;
import io.diglett.server.config.GatewayConfig;
import io.diglett.server.config.TlsSettings;
import io.diglett.server.registrar.Registrar;

import io.diglett.agent.Agent;
import io.diglett.agent.AgentConfig;
import io.diglett.agent.Registration;
import io.diglett.agent.TrustSettings;
import io.diglett.common.HostPort;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * An in-JVM gateway on 127.0.0.1 (port 0) and the agents a test starts against it. By default the link is TLS
 * with a certificate generated in a temporary state directory, and agents pin its fingerprint.
 */
final class TunnelFixture implements AutoCloseable {

    final Gateway gateway;
    final InetSocketAddress address;
    final Path stateDir;
    private final boolean ownsState;
    private final List<Agent> agents = new ArrayList<>();

    TunnelFixture() throws Exception {
        this(GatewayConfig.defaults());
    }

    /** {@code base} with the listen and public addresses on 127.0.0.1; TLS state in a temporary directory. */
    TunnelFixture(GatewayConfig base) throws Exception {
        this(base, Authenticator.open());
    }

    TunnelFixture(GatewayConfig base, Authenticator authenticator) throws Exception {
        this(base, authenticator, Registrar.log());
    }

    TunnelFixture(GatewayConfig base, Authenticator authenticator, Registrar registrar) throws Exception {
        this(base, authenticator, registrar, null, gateway -> { });
    }

    /**
     * A gateway keeping its state in {@code stateDir} (the caller's; {@code null}: a temporary directory removed by
     * {@link #close}), set up by {@code beforeStart} before it starts.
     */
    TunnelFixture(GatewayConfig base, Authenticator authenticator, Registrar registrar, Path stateDir,
                  java.util.function.Consumer<Gateway> beforeStart) throws Exception {
        this.ownsState = stateDir == null;
        this.stateDir = stateDir != null ? stateDir : Files.createTempDirectory("diglett-test-state");
        GatewayConfig config = base.withListen(new HostPort("127.0.0.1", 0)).withPublicBind("127.0.0.1");
        if (!config.tls().plaintext() && config.tls().certFile() == null) {
            config = config.withTls(TlsSettings.generated(this.stateDir));
        }
        gateway = new Gateway(config, authenticator, registrar);
        beforeStart.accept(gateway);
        address = gateway.start();
    }

    /** A gateway without TLS, for tests that speak the protocol byte by byte. */
    static TunnelFixture plaintext() throws Exception {
        return new TunnelFixture(GatewayConfig.defaults().withTls(TlsSettings.plain()));
    }

    /** How agents of this fixture trust the gateway: its pinned fingerprint, or plaintext. */
    TrustSettings trust() {
        return gateway.fingerprint() == null ? TrustSettings.plain() : TrustSettings.pinned(gateway.fingerprint());
    }

    /** Config for an agent that exposes {@code backendPort} on 127.0.0.1 as {@code name}. */
    AgentConfig agentConfig(String name, int backendPort) {
        return AgentConfig.of(new HostPort("127.0.0.1", address.getPort()), "", name,
                new HostPort("127.0.0.1", backendPort), trust());
    }

    /** Starts an agent (closed with the fixture) without waiting for it. */
    Agent agent(AgentConfig config) {
        Agent agent = new Agent(config);
        agents.add(agent);
        return agent;
    }

    /** Starts an agent for {@code name} and returns the public port once the tunnel is live. */
    int expose(String name, int backendPort) throws Exception {
        return expose(agentConfig(name, backendPort));
    }

    /** Like {@link #expose(String, int)}, asking for a raw port also on a gateway with an ingress. */
    int exposeRaw(String name, int backendPort) throws Exception {
        return expose(agentConfig(name, backendPort).withTunnels(List.of(new io.diglett.agent.TunnelSpec(name,
                new HostPort("127.0.0.1", backendPort)).withRawPort(true))));
    }

    int expose(AgentConfig config) throws Exception {
        List<Registration> registrations = agent(config).start().get(10, TimeUnit.SECONDS);
        return registrations.get(0).publicPort();
    }

    @Override
    public void close() {
        for (Agent agent : agents) {
            agent.close();
        }
        gateway.close();
        if (!ownsState) {
            return;
        }
        try (Stream<Path> files = Files.walk(stateDir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
