package io.diglett.server.visitor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Credentials a login verified lately (by their digest: never as they came), who each names, and until when: taken
 * at once until then, so that a browser's or client's repeated requests are not checked again. At most
 * {@code max}, the least recently used going first. Asked from event loops and the workers: synchronized.
 */
final class Verified {

    private final LongSupplier nanos;
    private final Map<String, Map.Entry<Identity, Long>> entries;

    Verified(int max, LongSupplier nanos) {
        this.nanos = nanos;
        this.entries = new LinkedHashMap<>(16, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Map.Entry<Identity, Long>> eldest) {
                return size() > max;
            }
        };
    }

    /** {@code who} for the credential whose digest is {@code key}, for {@code forNanos} from now. */
    synchronized void put(String key, Identity who, long forNanos) {
        entries.put(key, Map.entry(who, nanos.getAsLong() + forNanos));
    }

    /** Who the credential whose digest is {@code key} names, if verified and not expired; else {@code null}. */
    synchronized Identity get(String key) {
        Map.Entry<Identity, Long> known = entries.get(key);
        return known != null && nanos.getAsLong() - known.getValue() < 0 ? known.getKey() : null;
    }

    synchronized int size() {
        return entries.size();
    }
}
