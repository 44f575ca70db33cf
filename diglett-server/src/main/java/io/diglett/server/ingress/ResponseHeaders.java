package io.diglett.server.ingress;

import io.diglett.protocol.Policy;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A name's response header rules ({@code response-header NAME: VALUE}) applied to the responses going back to a
 * client: each response head is held until its empty line (at most {@link #MAX_HEAD} bytes), the backend's headers of
 * a rule's name are dropped, the rule's are added; bodies pass untouched. Interim (1xx) heads pass as they are.
 * Where the heads are comes from the connection's {@link ResponseTracker}. Runs on the connection's event loop.
 */
final class ResponseHeaders implements ResponseTracker.HeadMarks {

    /** A response head held for rewriting, at most: a larger one closes the connection. */
    static final int MAX_HEAD = 64 * 1024;

    private final List<Policy.Header> rules;
    private final ByteBufAllocator alloc;
    /** The head being gathered, or {@code null} between heads. */
    private ByteBuf head;
    /** Marks of the bytes being read: start (+index) and end (-index - 1). */
    private final List<Integer> marks = new ArrayList<>();

    ResponseHeaders(List<Policy.Header> rules, ByteBufAllocator alloc) {
        this.rules = rules;
        this.alloc = alloc;
    }

    @Override
    public void headStart(int index) {
        marks.add(index);
    }

    @Override
    public void headEnd(int index) {
        marks.add(-index - 1);
    }

    /**
     * What of {@code bytes} (released here) goes to the client now, in order, with the rules applied to every head
     * that ended in it; a head not ended yet is held.
     *
     * @throws IllegalStateException when a head is over {@link #MAX_HEAD}, or the responses cannot be followed
     */
    List<ByteBuf> rewrite(ByteBuf bytes, ResponseTracker tracker) {
        marks.clear();
        List<ByteBuf> out = new ArrayList<>(2);
        try {
            tracker.response(bytes, this);
            if (!tracker.following()) {
                // a head it cannot read, or more requests in flight than it follows: never a response without the
                // name's rules
                throw new IllegalStateException("responses the gateway cannot follow");
            }
            int cursor = bytes.readerIndex();
            for (int mark : marks) {
                int index = mark >= 0 ? mark : -mark - 1;
                if (head == null) {
                    if (index > cursor) {
                        out.add(bytes.retainedSlice(cursor, index - cursor));
                    }
                    if (mark >= 0) {
                        head = alloc.buffer(256);
                    }
                } else {
                    gather(bytes, cursor, index - cursor);
                    if (mark < 0) {
                        out.add(rewritten());
                    }
                }
                cursor = index;
            }
            if (head != null) {
                gather(bytes, cursor, bytes.writerIndex() - cursor);
            } else if (bytes.writerIndex() > cursor) {
                out.add(bytes.retainedSlice(cursor, bytes.writerIndex() - cursor));
            }
            return out;
        } catch (RuntimeException e) {
            out.forEach(ByteBuf::release);
            throw e;
        } finally {
            bytes.release();
        }
    }

    private void gather(ByteBuf bytes, int from, int length) {
        if (head.readableBytes() + length > MAX_HEAD) {
            throw new IllegalStateException("a response head of more than " + MAX_HEAD + " bytes");
        }
        head.writeBytes(bytes, from, length);
    }

    /** The head gathered, with the rules applied (an interim one as it came). */
    private ByteBuf rewritten() {
        ByteBuf was = head;
        head = null;
        String text = was.toString(StandardCharsets.ISO_8859_1);
        if (text.length() > 9 && text.charAt(9) == '1') {
            return was; // 1xx: the final head comes next
        }
        was.release();
        String[] lines = text.split("\r?\n", -1);
        StringBuilder out = new StringBuilder(text.length() + 64 * rules.size());
        out.append(lines[0]).append("\r\n");
        for (int i = 1; i < lines.length; i++) {
            String line = lines[i];
            if (line.isEmpty()) {
                continue; // the end of the head, written below
            }
            // every line has a colon: the tracker gives up on any other (obsolete line folding included)
            String name = line.substring(0, line.indexOf(':')).strip();
            if (rules.stream().noneMatch(rule -> rule.name().equalsIgnoreCase(name))) {
                out.append(line).append("\r\n");
            }
        }
        rules.forEach(rule -> out.append(rule.name()).append(": ").append(rule.value()).append("\r\n"));
        out.append("\r\n");
        byte[] bytes = out.toString().getBytes(StandardCharsets.ISO_8859_1);
        return alloc.buffer(bytes.length).writeBytes(bytes);
    }

    /** Releases a head being gathered (the connection ends). */
    void release() {
        if (head != null) {
            head.release();
            head = null;
        }
    }
}
