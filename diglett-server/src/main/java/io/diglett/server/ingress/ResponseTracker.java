package io.diglett.server.ingress;

import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.util.Locale;

/**
 * Follows the responses going back to an ingress client just far enough to tell where each one ends (status line,
 * Content-Length or chunked coding, no body for HEAD, 204, 304 and interim 1xx answers), so that the idle
 * timeout knows whether a response is still due or under way. It never changes or holds a byte: it only reads
 * the bytes as they pass, and skips bodies by their length. Whatever it cannot follow (a response without a
 * request, a body delimited by the connection's end, an upgrade, an unreadable head) makes it give up, and a
 * connection it gave up on counts as busy for good. Runs on the connection's event loop.
 */
final class ResponseTracker {

    /** Requests a client may have in flight before the tracker gives up counting (pipelining is rare). */
    static final int MAX_OWED = 1024;
    /** Characters kept of a head line: enough for the status and the two headers that frame a body. */
    static final int MAX_LINE = 256;

    private enum State { STATUS, HEADER, BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILER, LOST }

    /** For each request forwarded and not fully answered, in order: whether it was a HEAD request. */
    private final ArrayDeque<Boolean> owed = new ArrayDeque<>();
    private State state = State.STATUS;
    private final StringBuilder line = new StringBuilder();
    /** Bytes in the line being read, including any beyond {@link #MAX_LINE}. */
    private int lineBytes;
    private int status;
    private long contentLength = -1;
    private boolean chunked;
    private boolean otherCoding;
    /** Body or chunk bytes still to come. */
    private long remaining;
    /** Told where heads are, during {@link #response(ByteBuf, HeadMarks)}. */
    private HeadMarks marks;
    /** The index just after the line end being handled. */
    private int at;

    /** A request head went to the backend. */
    void requestSent(boolean head) {
        if (owed.size() >= MAX_OWED) {
            state = State.LOST;
            return;
        }
        owed.add(head);
    }

    /**
     * Whether a response is owed or under way (or the tracker lost track): the connection is not idle in the
     * HTTP sense, whatever its sockets do.
     */
    boolean inProgress() {
        return state == State.LOST || !owed.isEmpty() || state != State.STATUS || lineBytes > 0;
    }

    /** Where response heads begin and end in the bytes read (for a name's response header rules). */
    interface HeadMarks {
        /** A response's status line begins at {@code index}. */
        void headStart(int index);

        /** A response's head ends just before {@code index} (after its empty line). */
        void headEnd(int index);
    }

    /** Response bytes on their way to the client; read, not consumed. */
    void response(ByteBuf bytes) {
        response(bytes, null);
    }

    /** The same, telling {@code marks} where heads begin and end. */
    void response(ByteBuf bytes, HeadMarks marks) {
        this.marks = marks;
        int i = bytes.readerIndex();
        int end = bytes.writerIndex();
        while (i < end && state != State.LOST) {
            switch (state) {
                case BODY, CHUNK_DATA -> {
                    int n = (int) Math.min(remaining, end - i);
                    i += n;
                    remaining -= n;
                    if (remaining == 0) {
                        if (state == State.BODY) {
                            complete();
                        } else {
                            state = State.CHUNK_END;
                        }
                    }
                }
                default -> {
                    byte b = bytes.getByte(i++);
                    if (marks != null && state == State.STATUS && lineBytes == 0 && b != '\r' && b != '\n') {
                        marks.headStart(i - 1);
                    }
                    if (b == '\n') {
                        at = i;
                        endOfLine();
                    } else {
                        lineBytes++;
                        if (line.length() < MAX_LINE && b != '\r') {
                            line.append((char) (b & 0xff));
                        }
                    }
                }
            }
        }
    }

    private void endOfLine() {
        String text = line.toString();
        boolean truncated = lineBytes > MAX_LINE;
        line.setLength(0);
        lineBytes = 0;
        switch (state) {
            case STATUS -> {
                if (!text.isEmpty()) { // a stray CRLF between responses is tolerated
                    status(text);
                }
            }
            case HEADER -> {
                if (text.isEmpty()) {
                    if (marks != null) {
                        marks.headEnd(at);
                    }
                    endOfHead();
                } else {
                    header(text, truncated);
                }
            }
            case CHUNK_SIZE -> chunkSize(text);
            case CHUNK_END -> state = text.isEmpty() ? State.CHUNK_SIZE : State.LOST;
            case TRAILER -> {
                if (text.isEmpty()) {
                    complete();
                }
            }
            default -> state = State.LOST;
        }
    }

    private void status(String text) {
        if (owed.isEmpty() || !text.startsWith("HTTP/1.") || text.length() < 12 || text.charAt(8) != ' ') {
            state = State.LOST;
            return;
        }
        try {
            status = Integer.parseInt(text.substring(9, 12));
        } catch (NumberFormatException e) {
            state = State.LOST;
            return;
        }
        contentLength = -1;
        chunked = false;
        otherCoding = false;
        state = State.HEADER;
    }

    private void header(String text, boolean truncated) {
        int colon = text.indexOf(':');
        if (colon <= 0) {
            state = State.LOST;
            return;
        }
        String name = text.substring(0, colon).trim().toLowerCase(Locale.ROOT);
        String value = text.substring(colon + 1).trim().toLowerCase(Locale.ROOT);
        if (name.equals("content-length")) {
            try {
                long length = Long.parseLong(value);
                if (truncated || length < 0 || (contentLength >= 0 && contentLength != length)) {
                    state = State.LOST;
                    return;
                }
                contentLength = length;
            } catch (NumberFormatException e) {
                state = State.LOST;
            }
        } else if (name.equals("transfer-encoding")) {
            if (truncated) {
                state = State.LOST;
                return;
            }
            String[] codings = value.split(",");
            boolean last = codings[codings.length - 1].trim().equals("chunked");
            chunked = last;
            otherCoding = !last;
        }
    }

    /**
     * Whether it still follows the responses, or stopped where nothing more is HTTP (after a 101, or in a body that
     * the connection's end delimits): false when it lost track of responses that go on (a malformed head, too
     * many requests in flight).
     */
    boolean following() {
        return state != State.LOST || endsWithConnection;
    }

    /** Lost on purpose: what follows is no longer HTTP, or the last body, up to the connection's end. */
    private boolean endsWithConnection;

    private void endOfHead() {
        boolean head = owed.peek();
        if (status == 101) {
            endsWithConnection = true;
            state = State.LOST; // the connection switched protocols: no more HTTP to follow
        } else if (status >= 100 && status < 200) {
            state = State.STATUS; // interim: the final response still comes
        } else if (head || status == 204 || status == 304) {
            complete();
        } else if (chunked) {
            state = State.CHUNK_SIZE;
        } else if (otherCoding || contentLength < 0) {
            endsWithConnection = true;
            state = State.LOST; // delimited by the end of the connection
        } else if (contentLength == 0) {
            complete();
        } else {
            remaining = contentLength;
            state = State.BODY;
        }
    }

    private void chunkSize(String text) {
        int semicolon = text.indexOf(';');
        String hex = (semicolon >= 0 ? text.substring(0, semicolon) : text).trim();
        try {
            long size = Long.parseLong(hex, 16);
            if (hex.isEmpty() || size < 0) {
                state = State.LOST;
            } else if (size == 0) {
                state = State.TRAILER;
            } else {
                remaining = size;
                state = State.CHUNK_DATA;
            }
        } catch (NumberFormatException e) {
            state = State.LOST;
        }
    }

    private void complete() {
        owed.poll();
        state = State.STATUS;
    }
}
