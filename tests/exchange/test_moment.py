"""The time and randomness of a state change: the clock and the CSPRNG alone, the event's
time and seed while a control event applies (the same on every node)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from exchange import moment

AT = datetime(2026, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=8)))


def _draws() -> tuple[datetime, str, bytes]:
    return moment.now(), moment.token_hex(8), moment.random_bytes(40)


def test_alone_it_is_the_clock_and_fresh_randomness() -> None:
    before = datetime.now(UTC)
    assert before <= moment.now() <= datetime.now(UTC)
    assert moment.token_hex(8) != moment.token_hex(8)
    assert len(moment.random_bytes(5)) == 5
    assert not moment.is_fixed()


def test_an_applying_event_fixes_time_and_draws_for_every_node_alike() -> None:
    with moment.fixed(AT, b"seed-1"):
        assert moment.is_fixed()
        first = _draws()
    with moment.fixed(AT, b"seed-1"):
        again = _draws()
    with moment.fixed(AT, b"seed-2"):
        other = _draws()
    assert first == again
    assert first[0] == AT
    assert first[0].tzinfo is UTC
    assert other[1] != first[1]
    assert other[2] != first[2]
    assert len(first[1]) == 16
    assert len(first[2]) == 40
    assert not moment.is_fixed()  # restored after the block
