package io.diglett.agent;

/** A name the gateway accepted, and the public port it listens on for it. */
public record Registration(String name, int publicPort) {
}
