package io.diglett.agent;

import io.diglett.protocol.HostPort;

/** One name to register and the backend its connections go to. */
public record TunnelSpec(String name, HostPort backend) {
}
