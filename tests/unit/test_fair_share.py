"""One connection is held to its share of the api port only while another uses it too."""

from __future__ import annotations

import pytest

from photon.hub.security import FairShare


def test_a_connection_alone_is_never_held_back() -> None:
    fair = FairShare(share=0.25, burst=0.5, active=1.0)
    for second in range(10):
        assert fair.delay("a", float(second)) == 0.0
        fair.charge("a", 0.9, second + 0.9)  # busy nine tenths of the time


def test_an_overdrawn_connection_waits_while_another_is_active() -> None:
    fair = FairShare(share=0.25, burst=0.5, active=1.0)
    assert fair.delay("w1", 0.0) == 0.0  # another client, using the port now and then
    assert fair.delay("heavy", 0.0) == 0.0
    fair.charge("heavy", 0.7, 0.7)  # 0.5 in hand (the most it holds) - 0.7: owes 0.2
    assert fair.delay("heavy", 0.7) == pytest.approx(0.2 / 0.25)
    # Once it has waited that long, it has earned its debt back.
    assert fair.delay("heavy", 1.5) == 0.0


def test_another_connection_counts_only_while_recently_active() -> None:
    fair = FairShare(share=0.25, burst=0.5, active=1.0)
    fair.delay("w1", 0.0)
    fair.delay("heavy", 0.0)
    fair.charge("heavy", 2.0, 2.0)  # owes as much as it may: the burst
    assert fair.delay("heavy", 2.0) == 0.0  # w1 last called 2 s ago: the hub is heavy's alone
    fair.charge("heavy", 2.0, 4.0)
    fair.delay("w1", 4.0)
    assert fair.delay("heavy", 4.0) == pytest.approx(0.5 / 0.25)  # never longer than this


def test_the_waiting_connection_does_not_make_another_wait() -> None:
    fair = FairShare(share=0.25, burst=0.5, active=1.0)
    fair.delay("heavy", 0.0)
    fair.charge("heavy", 1.0, 1.0)
    assert fair.delay("w1", 1.0) == 0.0  # w1 has its own balance, untouched
    fair.charge("w1", 0.01, 1.01)
    assert fair.delay("w1", 1.02) == 0.0


def test_shares_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        FairShare(share=0.0)
