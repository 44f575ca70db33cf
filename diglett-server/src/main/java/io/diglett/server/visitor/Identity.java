package io.diglett.server.visitor;

/**
 * Who a visitor is, as the gateway verified it: the user ({@code X-Diglett-User}) and, when the login gave one, a
 * verified email address ({@code X-Diglett-Email}; {@code null} otherwise).
 */
public record Identity(String user, String email) {
}
