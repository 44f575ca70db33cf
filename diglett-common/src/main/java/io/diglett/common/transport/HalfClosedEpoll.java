package io.diglett.common.transport;

import io.netty.channel.IoHandle;
import io.netty.channel.IoHandler;
import io.netty.channel.IoHandlerContext;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.IoOps;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.util.concurrent.ThreadAwareExecutor;

/**
 * Netty's epoll I/O handler with one fix: a socket whose interest set becomes empty stays in epoll.
 *
 * <p>In Netty 4.2.18, when a socket's interest set becomes empty, Netty removes the socket from epoll
 * ({@code EPOLL_CTL_DEL}) but keeps the registration marked as added. The next interest (waiting for
 * writability, say) is then an {@code EPOLL_CTL_MOD} of a socket epoll no longer has: it fails with
 * {@code ENOENT}, the write fails and Netty shuts the socket's output down. The set becomes empty on exactly
 * the sockets the streams make: auto-read off, no read pending (the stream waits for credit), and the peer's
 * half-close handled (which clears {@code EPOLLRDHUP}). The response written after a client's FIN then broke
 * off whenever it did not fit in the kernel's buffer at once (a cut stream, "Connection reset" at the client).
 *
 * <p>Here an empty interest set is submitted as {@code EPOLLET} alone: the socket stays in epoll, asking for
 * no event; the kernel reports only errors and hang-ups, once each (edge-triggered), and Netty ignores a
 * lone hang-up. The next interest is then a valid {@code EPOLL_CTL_MOD}. Closing a socket still removes it.
 * {@code HalfClosedEpollTest} holds the case.
 */
final class HalfClosedEpoll {

    private HalfClosedEpoll() {
    }

    /** An epoll I/O handler factory whose handlers keep sockets with no interest in epoll. */
    static IoHandlerFactory newFactory() {
        IoHandlerFactory epoll = EpollIoHandler.newFactory();
        return new IoHandlerFactory() {
            @Override
            public IoHandler newHandler(ThreadAwareExecutor executor) {
                return new Handler(epoll.newHandler(executor));
            }

            @Override
            public boolean isChangingThreadSupported() {
                return epoll.isChangingThreadSupported();
            }
        };
    }

    private static final class Handler implements IoHandler {
        private final IoHandler epoll;

        Handler(IoHandler epoll) {
            this.epoll = epoll;
        }

        @Override
        public void initialize() {
            epoll.initialize();
        }

        @Override
        public int run(IoHandlerContext context) {
            return epoll.run(context);
        }

        @Override
        public void prepareToDestroy() {
            epoll.prepareToDestroy();
        }

        @Override
        public void destroy() {
            epoll.destroy();
        }

        @Override
        public IoRegistration register(IoHandle handle) throws Exception {
            return new Registration(epoll.register(handle));
        }

        @Override
        public void wakeup() {
            epoll.wakeup();
        }

        @Override
        public boolean isCompatible(Class<? extends IoHandle> handleType) {
            return epoll.isCompatible(handleType);
        }
    }

    private static final class Registration implements IoRegistration {
        private final IoRegistration epoll;

        Registration(IoRegistration epoll) {
            this.epoll = epoll;
        }

        @Override
        public <T> T attachment() {
            return epoll.attachment();
        }

        @Override
        public long submit(IoOps ops) {
            if (ops instanceof EpollIoOps epollOps && epollOps.value() == EpollIoOps.NONE.value()) {
                return epoll.submit(EpollIoOps.EPOLLET);
            }
            return epoll.submit(ops);
        }

        @Override
        public boolean isValid() {
            return epoll.isValid();
        }

        @Override
        public boolean cancel() {
            return epoll.cancel();
        }
    }
}
