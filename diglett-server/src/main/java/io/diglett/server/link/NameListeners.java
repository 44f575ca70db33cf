package io.diglett.server.link;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** The listeners of a {@link NameRegistry}: added from any thread, told on the thread of the change. */
public final class NameListeners {

    private final List<NameRegistry.Listener> listeners = new CopyOnWriteArrayList<>();

    public void add(NameRegistry.Listener listener) {
        listeners.add(listener);
    }

    /** Tells every listener of {@code change}. */
    public void tell(NameRegistry.Change change) {
        for (NameRegistry.Listener listener : listeners) {
            listener.changed(change);
        }
    }
}
