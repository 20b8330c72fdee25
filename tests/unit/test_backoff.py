import random

import pytest

from photon.agent.session import Backoff

BACKOFF = Backoff()


def test_defaults_follow_the_spec() -> None:
    assert (BACKOFF.initial, BACKOFF.multiplier, BACKOFF.jitter, BACKOFF.cap) == (
        1.0,
        1.6,
        0.2,
        30.0,
    )


@pytest.mark.parametrize("failures", [0, 1])
def test_first_delay_is_about_one_second(failures: int) -> None:
    delays = [BACKOFF.delay(failures, random.Random(seed)) for seed in range(200)]
    assert all(0.8 <= d <= 1.2 for d in delays)
    # Jittered: not one fixed value, and spread over most of the band.
    assert max(delays) - min(delays) > 0.3


def test_each_failure_multiplies_the_delay_by_1_6() -> None:
    # The same seed draws the same jitter factor, so the ratio isolates the growth.
    for failures in range(2, 8):
        before = BACKOFF.delay(failures - 1, random.Random(7))
        after = BACKOFF.delay(failures, random.Random(7))
        assert after / before == pytest.approx(1.6)


def test_without_jitter_the_sequence_is_exact() -> None:
    exact = Backoff(jitter=0.0)
    rng = random.Random(0)
    delays = [exact.delay(n, rng) for n in range(1, 11)]
    assert delays == pytest.approx(
        [1.0, 1.6, 2.56, 4.096, 6.5536, 10.48576, 16.777216, 26.8435456, 30.0, 30.0]
    )


@pytest.mark.parametrize("failures", [9, 50, 1000, 10_000, 10**9])
def test_capped_at_thirty_seconds_at_large_failure_counts(failures: int) -> None:
    delays = [BACKOFF.delay(failures, random.Random(seed)) for seed in range(100)]
    assert all(24.0 <= d <= 36.0 for d in delays)
    assert max(delays) > 30.0 > min(delays)


def test_deterministic_for_a_seeded_rng() -> None:
    first = [BACKOFF.delay(n, rng) for rng in [random.Random(42)] for n in range(1, 20)]
    second = [BACKOFF.delay(n, rng) for rng in [random.Random(42)] for n in range(1, 20)]
    other = [BACKOFF.delay(n, rng) for rng in [random.Random(43)] for n in range(1, 20)]
    assert first == second
    assert first != other


def test_every_delay_stays_within_its_jitter_band() -> None:
    for seed in range(300):
        rng = random.Random(seed)
        for failures in range(1, 40):
            base = min(30.0, 1.6 ** (failures - 1))
            delay = BACKOFF.delay(failures, rng)
            assert 0.8 * base <= delay <= 1.2 * base, (seed, failures, delay)
