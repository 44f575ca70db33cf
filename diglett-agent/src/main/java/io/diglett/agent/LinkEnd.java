package io.diglett.agent;

/**
 * How one link to the gateway ended.
 *
 * @param reason   in words, for the log
 * @param rejected the gateway (or its identity check) refused us: retrying will not help
 */
record LinkEnd(String reason, boolean rejected) {
}
