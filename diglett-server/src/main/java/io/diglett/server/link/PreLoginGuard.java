package io.diglett.server.link;

import io.diglett.server.config.PreLoginLimits;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.util.concurrent.Future;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * First handler of an agent connection, there until it logs in: holds the connection's place in the
 * {@link LinkAdmission} pool and its deadlines, and tells the admission when the first byte came (a connection
 * that sent nothing is the first to be evicted from a full pool). No byte within the first-byte timeout, or no
 * Login within the login timeout, closes the connection (counted and logged by the admission). At Login the
 * session calls {@link #loggedIn}: the place moves from the pending pool to the agents (or the gateway is full)
 * and this handler leaves the pipeline; whatever the connection counts as is given back when it closes. Runs on
 * the connection's event loop; an eviction takes the place from another one, and the steps here then find it
 * gone.
 */
public final class PreLoginGuard extends ChannelInboundHandlerAdapter {

    /** The handler's name in the pipeline. */
    public static final String NAME = "pre-login";

    /** PENDING until Login or Join; then AGENT (the session holds a place among the agents) or JOINED. */
    private enum State { PENDING, AGENT, JOINED, DONE }

    private final LinkAdmission admission;
    private final LinkAdmission.Place place;
    private final PreLoginLimits limits;
    private State state = State.PENDING;
    private boolean readSome;
    private ChannelHandlerContext ctx;
    private ScheduledFuture<?> firstByteTimer;
    private ScheduledFuture<?> loginTimer;

    /** A guard for a connection at {@code place} in the pending pool of {@code admission}. */
    PreLoginGuard(LinkAdmission admission, LinkAdmission.Place place, PreLoginLimits limits) {
        this.admission = admission;
        this.place = place;
        this.limits = limits;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        ctx.channel().closeFuture().addListener(f -> release());
        long firstByte = limits.firstByteTimeout().toMillis();
        firstByteTimer = ctx.executor().schedule(() -> {
            if (!readSome && state == State.PENDING && admission.timedOut(place, LinkAdmission.FIRST_BYTE_TIMEOUT,
                    "no byte within " + firstByte + " ms (--first-byte-timeout)")) {
                ctx.close();
            }
        }, firstByte, TimeUnit.MILLISECONDS);
        long login = limits.loginTimeout().toMillis();
        loginTimer = ctx.executor().schedule(() -> {
            if (state == State.PENDING && admission.timedOut(place, LinkAdmission.LOGIN_TIMEOUT,
                    "no login within " + login + " ms (--login-timeout)")) {
                ctx.close();
            }
        }, login, TimeUnit.MILLISECONDS);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!readSome) {
            readSome = true;
            firstByteTimer.cancel(false);
            admission.spoke(place);
        }
        ctx.fireChannelRead(msg);
    }

    /**
     * The connection on {@code pipeline} logged in, making an agent's session that ends with {@code sessionEnd}.
     * Returns {@code null} when it now counts as an agent until the session ends (or has no guard: a session under
     * test), else why the gateway takes no more agents. The session, not the connection, holds the place: a
     * session outlives the link it logged in on while other links of it are up.
     */
    static String loggedIn(ChannelPipeline pipeline, Future<?> sessionEnd) {
        PreLoginGuard guard = pipeline.get(PreLoginGuard.class);
        return guard == null ? null : guard.loggedIn(sessionEnd);
    }

    private String loggedIn(Future<?> sessionEnd) {
        if (state != State.PENDING) {
            return state == State.DONE ? "the connection is closing" : null;
        }
        cancelTimers();
        if (!admission.leavePending(place)) {
            state = State.DONE; // evicted meanwhile: its close is on the way
            return "the connection is closing";
        }
        String full = admission.enterAgent(ctx.channel());
        state = full == null ? State.AGENT : State.DONE;
        if (full == null) {
            sessionEnd.addListener(f -> admission.leaveAgent());
        }
        ctx.pipeline().remove(this);
        return full;
    }

    /**
     * The connection on {@code pipeline} joined an agent's session (version 5): it leaves the pending pool without
     * counting as another agent (its session's link limit bounds it). Returns {@code null}, or why it cannot
     * (evicted meanwhile, its close on the way).
     */
    static String joined(ChannelPipeline pipeline) {
        PreLoginGuard guard = pipeline.get(PreLoginGuard.class);
        return guard == null ? null : guard.joined();
    }

    private String joined() {
        if (state != State.PENDING) {
            return "the connection is closing";
        }
        cancelTimers();
        if (!admission.leavePending(place)) {
            state = State.DONE;
            return "the connection is closing";
        }
        state = State.JOINED;
        ctx.pipeline().remove(this);
        return null;
    }

    /** The connection closed: give back what it counted as. */
    private void release() {
        cancelTimers();
        if (state == State.PENDING) {
            admission.leavePending(place);
            state = State.DONE;
        }
        // an agent's place is its session's until the session ends; a joined link held none
    }

    private void cancelTimers() {
        if (firstByteTimer != null) {
            firstByteTimer.cancel(false);
        }
        if (loginTimer != null) {
            loginTimer.cancel(false);
        }
    }
}
