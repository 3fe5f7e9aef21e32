"""When a webhook is tried again: SPEC §3's schedule, ±20 % jitter, bounded Retry-After."""

from __future__ import annotations

import random

import pytest

from flask_pdfqueue.config.settings import Settings
from flask_pdfqueue.webhooks.schedule import JITTER, retry_wait

#: SPEC §3's default: 5 s, 30 s, 2 m, 10 m, 30 m, 1 h, 3 h, 6 h.
SCHEDULE = (5, 30, 120, 600, 1800, 3600, 10800, 21600)


def _wait(
    attempts_made: int,
    *,
    seed: int = 1,
    retry_after: float | None = None,
    schedule: tuple[int, ...] = SCHEDULE,
) -> float:
    wait = retry_wait(
        attempts_made=attempts_made,
        schedule=schedule,
        retry_after=retry_after,
        rng=random.Random(seed),
    )
    assert wait is not None
    return wait


def _jittered(base: float, seed: int = 1) -> float:
    """What the schedule's wait becomes with the same seeded generator."""
    return base * (1 + random.Random(seed).uniform(-0.2, 0.2))


def test_the_default_schedule_is_specs() -> None:
    assert Settings.webhook_retry_schedule == SCHEDULE
    assert JITTER == 0.2


@pytest.mark.parametrize("attempts_made", range(1, len(SCHEDULE) + 1))
def test_the_nth_retry_waits_the_nth_value_with_jitter(attempts_made: int) -> None:
    base = SCHEDULE[attempts_made - 1]
    for seed in range(20):
        wait = _wait(attempts_made, seed=seed)
        assert wait == pytest.approx(_jittered(base, seed), abs=1e-5)
        assert 0.8 * base - 1e-5 <= wait <= 1.2 * base + 1e-5


def test_jitter_spreads_waits_over_plus_minus_twenty_percent() -> None:
    rng = random.Random(2026)
    waits = []
    for _ in range(2000):
        wait = retry_wait(attempts_made=3, schedule=SCHEDULE, rng=rng)
        assert wait is not None
        waits.append(wait)
    assert min(waits) >= 96 - 1e-5 and max(waits) <= 144 + 1e-5  # 120 s ± 20 %
    assert min(waits) < 100 and max(waits) > 140  # and it does use the whole range
    assert len({round(w, 3) for w in waits}) > 1000  # not a handful of fixed values


def test_the_same_seed_gives_the_same_time() -> None:
    assert _wait(4, seed=9) == _wait(4, seed=9)
    assert _wait(4, seed=9) != _wait(4, seed=10)


def test_without_a_generator_the_module_random_is_used() -> None:
    wait = retry_wait(attempts_made=2, schedule=SCHEDULE)
    assert wait is not None
    assert 24 <= wait <= 36


@pytest.mark.parametrize("attempts_made", [len(SCHEDULE) + 1, len(SCHEDULE) + 5, 0, -1])
def test_none_when_the_schedule_is_used_up_or_nothing_was_tried(attempts_made: int) -> None:
    rng = random.Random(1)
    assert retry_wait(attempts_made=attempts_made, schedule=SCHEDULE, rng=rng) is None
    assert (
        retry_wait(attempts_made=attempts_made, schedule=SCHEDULE, retry_after=60, rng=rng) is None
    )


def test_an_empty_schedule_never_retries() -> None:
    assert retry_wait(attempts_made=1, schedule=(), retry_after=5) is None


def test_a_longer_retry_after_is_honoured() -> None:
    # after the first attempt the schedule says 5 s (4-6 s); the receiver asks for 90 s
    assert _wait(1, retry_after=90) == 90
    assert _wait(2, retry_after=3599.5) == 3599.5


def test_retry_after_is_capped_at_the_longest_wait() -> None:
    assert _wait(1, retry_after=10**9) == max(SCHEDULE)
    assert _wait(1, retry_after=21600.5) == 21600
    assert _wait(1, retry_after=500, schedule=(5, 30, 120)) == 120


@pytest.mark.parametrize("retry_after", [0, 1, 4.0])
def test_a_small_retry_after_never_shortens_the_scheduled_wait(retry_after: float) -> None:
    for attempts_made in range(1, len(SCHEDULE) + 1):
        base = SCHEDULE[attempts_made - 1]
        expected = _jittered(base, seed=attempts_made)
        got = _wait(attempts_made, seed=attempts_made, retry_after=retry_after)
        assert got == pytest.approx(expected, abs=1e-5)


def test_a_capped_retry_after_never_shortens_the_last_jittered_wait() -> None:
    """At the end of the schedule the jittered wait may exceed the cap: it stands."""
    seed = next(s for s in range(100) if _jittered(SCHEDULE[-1], s) > SCHEDULE[-1])
    expected = _jittered(SCHEDULE[-1], seed)
    assert _wait(len(SCHEDULE), seed=seed, retry_after=10**9) == pytest.approx(expected, abs=1e-5)
