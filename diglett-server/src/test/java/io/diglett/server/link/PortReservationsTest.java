package io.diglett.server.link;

import io.diglett.common.testing.ManualClock;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The port grace on a clock the test moves: who gets a released port back, until when, and who avoids it. */
class PortReservationsTest {

    private final ManualClock clock = new ManualClock(Instant.parse("2026-01-01T00:00:00Z"));
    private final PortReservations reservations = new PortReservations(clock, Duration.ofMinutes(5));
    private final PortReservations.Owner alice = new PortReservations.Owner("aa", "web");
    private final PortReservations.Owner bob = new PortReservations.Owner("bb", "api");

    @Test
    void aLiveNamesPortIsKeptForItsOwnerUntilTheGraceEnds() {
        Object listener = new Object();
        reservations.bound(alice, 4000, listener);
        assertEquals(0, reservations.previous(alice), "in use, not reserved");
        reservations.closed(alice, listener, true);
        assertEquals(4000, reservations.previous(alice));
        assertEquals(Set.of(4000), reservations.reservedForOthers(bob));
        assertEquals(Set.of(), reservations.reservedForOthers(alice));
        assertEquals(0, reservations.previous(new PortReservations.Owner("bb", "web")), "same name, other token");
        assertEquals(0, reservations.previous(new PortReservations.Owner("aa", "other")), "same token, other name");
        clock.advance(Duration.ofMinutes(5).minusMillis(1));
        assertEquals(4000, reservations.previous(alice));
        clock.advance(Duration.ofMillis(1));
        assertEquals(0, reservations.previous(alice), "expired");
        assertEquals(Set.of(), reservations.reservedForOthers(bob));
        assertEquals(0, reservations.size());
    }

    @Test
    void aRegistrationThatNeverWentLiveReservesNothingAndKeepsTheReservationItCameBackOn() {
        Object aborted = new Object();
        reservations.bound(bob, 4001, aborted);
        reservations.closed(bob, aborted, false);
        assertEquals(0, reservations.previous(bob));
        assertEquals(0, reservations.size());

        Object live = new Object();
        reservations.bound(alice, 4000, live);
        reservations.closed(alice, live, true);
        clock.advance(Duration.ofMinutes(4));
        Object retry = new Object();
        reservations.bound(alice, 4000, retry); // back on its port, but the link drops before it goes live
        reservations.closed(alice, retry, false);
        assertEquals(4000, reservations.previous(alice), "still reserved, from the first release");
        clock.advance(Duration.ofMinutes(1));
        assertEquals(0, reservations.previous(alice), "the grace counts from the release of the live one");
    }

    @Test
    void anExhaustedRangeGivesAwayTheOldestReservationAndALateCloseDoesNotUndoANewerBind() {
        Object first = new Object();
        Object second = new Object();
        reservations.bound(alice, 4000, first);
        reservations.closed(alice, first, true);
        clock.advance(Duration.ofSeconds(1));
        PortReservations.Owner carol = new PortReservations.Owner("cc", "db");
        reservations.bound(carol, 4001, second);
        reservations.closed(carol, second, true);
        assertEquals(List.of(4000, 4001), reservations.reservedForOthersOldestFirst(bob));
        Object bobs = new Object();
        reservations.bound(bob, 4000, bobs);
        assertEquals(0, reservations.previous(alice), "given away");
        assertEquals(4001, reservations.previous(carol));

        Object newer = new Object();
        reservations.bound(carol, 4001, newer);
        reservations.closed(carol, second, true); // the old listener's close, reported late
        assertEquals(0, reservations.previous(carol), "in use by the newer listener");
    }

    @Test
    void zeroGraceReservesNothing() {
        reservations.grace(Duration.ZERO);
        Object listener = new Object();
        reservations.bound(alice, 4000, listener);
        reservations.closed(alice, listener, true);
        assertEquals(0, reservations.previous(alice));
        assertEquals(0, reservations.size());
    }
}
