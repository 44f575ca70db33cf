package io.diglett.protocol.mux;

/**
 * Told what happens on one stream, for metrics and status views. Called on the link's event loop; keep it
 * cheap (a counter increment), it runs for every chunk of data.
 */
public interface StreamObserver {

    /** Observes nothing. */
    StreamObserver NONE = new StreamObserver() {
    };

    /** The peer accepted the stream: data may flow. */
    default void opened() {
    }

    /** {@code bytes} read from the local socket went out on the link. */
    default void sent(int bytes) {
    }

    /** {@code bytes} from the link were written to the local socket. */
    default void received(int bytes) {
    }

    /**
     * The stream is gone, once: {@code clean} when both sides finished it (FIN both ways), otherwise it was
     * reset for {@code reason} (refused, cut, the link lost).
     */
    default void closed(boolean clean, String reason) {
    }
}
