import pytest

from photon.hub.core import AGENT_SPECIFIC, FINAL, retry_delay
from photon.model import Failure, FailureClass, RetryPolicy

NOW = 1_700_000_000.0
DEFAULT = RetryPolicy()
TOOL_ERROR = Failure(failure_class=FailureClass.TOOL_ERROR, message="exit 1")


def failure(cls: FailureClass, *, retry_at: float | None = None) -> Failure:
    return Failure(failure_class=cls, message=str(cls), retry_at=retry_at)


def test_default_policy_follows_the_spec() -> None:
    assert (
        DEFAULT.max_attempts,
        DEFAULT.initial_backoff,
        DEFAULT.multiplier,
        DEFAULT.max_backoff,
    ) == (3, 1.0, 2.0, 100.0)


def test_default_policy_retries_twice_then_gives_up() -> None:
    delays = [retry_delay(DEFAULT, attempt, TOOL_ERROR, now=NOW) for attempt in (1, 2, 3)]
    assert delays == [1.0, 2.0, None]


def test_backoff_doubles_from_one_second_and_is_capped_at_100() -> None:
    policy = RetryPolicy(max_attempts=12)
    delays = [retry_delay(policy, attempt, TOOL_ERROR, now=NOW) for attempt in range(1, 12)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 100.0, 100.0, 100.0, 100.0]


def test_no_retry_once_attempts_are_used_up() -> None:
    policy = RetryPolicy(max_attempts=5)
    assert retry_delay(policy, 4, TOOL_ERROR, now=NOW) == 8.0
    assert [retry_delay(policy, a, TOOL_ERROR, now=NOW) for a in (5, 6, 50)] == [None] * 3


@pytest.mark.parametrize(
    "cls",
    [
        FailureClass.TOOL_ERROR,
        FailureClass.TIMEOUT,
        FailureClass.TOOL_MISSING,
        FailureClass.QUOTA,  # without a reset time
    ],
)
def test_retryable_classes_use_the_backoff(cls: FailureClass) -> None:
    policy = RetryPolicy(max_attempts=5)
    delays = [retry_delay(policy, attempt, failure(cls), now=NOW) for attempt in range(1, 6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, None]


@pytest.mark.parametrize(
    "cls", [FailureClass.INVALID_INPUT, FailureClass.CANCELLED, FailureClass.AUTH]
)
def test_final_classes_are_never_retried(cls: FailureClass) -> None:
    policy = RetryPolicy(max_attempts=100)
    assert [retry_delay(policy, a, failure(cls), now=NOW) for a in (1, 2, 50)] == [None] * 3


def test_final_and_agent_specific_sets() -> None:
    assert {
        FailureClass.INVALID_INPUT,
        FailureClass.CANCELLED,
        FailureClass.AUTH,
    } == FINAL
    assert {
        FailureClass.TOOL_MISSING,
        FailureClass.QUOTA,
        FailureClass.AGENT_LOST,
    } == AGENT_SPECIFIC


def test_agent_lost_is_retried_at_once() -> None:
    policy = RetryPolicy(max_attempts=5, initial_backoff=30.0)
    lost = failure(FailureClass.AGENT_LOST)
    assert [retry_delay(policy, a, lost, now=NOW) for a in (1, 2, 3, 4)] == [0.0] * 4


def test_agent_lost_still_counts_against_max_attempts() -> None:
    # A task that takes its agent down every time must not be placed forever.
    assert retry_delay(DEFAULT, 3, failure(FailureClass.AGENT_LOST), now=NOW) is None


def test_quota_waits_until_the_reset() -> None:
    quota = failure(FailureClass.QUOTA, retry_at=NOW + 30.0)
    assert retry_delay(DEFAULT, 1, quota, now=NOW) == pytest.approx(30.0)
    assert retry_delay(DEFAULT, 1, quota, now=NOW + 20.0) == pytest.approx(10.0)


def test_quota_reset_sooner_than_the_backoff_keeps_the_backoff() -> None:
    policy = RetryPolicy(max_attempts=10)
    soon = failure(FailureClass.QUOTA, retry_at=NOW + 3.0)
    assert retry_delay(policy, 4, soon, now=NOW) == 8.0
    past = failure(FailureClass.QUOTA, retry_at=NOW - 60.0)
    assert retry_delay(policy, 2, past, now=NOW) == 2.0


def test_quota_reset_beyond_the_backoff_cap_is_honoured() -> None:
    tomorrow = failure(FailureClass.QUOTA, retry_at=NOW + 86_400.0)
    assert retry_delay(DEFAULT, 1, tomorrow, now=NOW) == pytest.approx(86_400.0)


def test_quota_on_the_last_attempt_is_final() -> None:
    quota = failure(FailureClass.QUOTA, retry_at=NOW + 30.0)
    assert retry_delay(DEFAULT, 3, quota, now=NOW) is None


def test_custom_policy_is_honoured() -> None:
    policy = RetryPolicy(max_attempts=6, initial_backoff=0.5, multiplier=3.0, max_backoff=10.0)
    delays = [retry_delay(policy, a, TOOL_ERROR, now=NOW) for a in range(1, 7)]
    assert delays == pytest.approx([0.5, 1.5, 4.5, 10.0, 10.0, None])


def test_constant_backoff_policy() -> None:
    policy = RetryPolicy(max_attempts=4, initial_backoff=7.0, multiplier=1.0)
    delays = [retry_delay(policy, a, TOOL_ERROR, now=NOW) for a in range(1, 5)]
    assert delays == [7.0, 7.0, 7.0, None]


@pytest.mark.parametrize("max_attempts", [0, 1])
def test_single_attempt_policy_never_retries(max_attempts: int) -> None:
    policy = RetryPolicy(max_attempts=max_attempts)
    assert retry_delay(policy, 1, TOOL_ERROR, now=NOW) is None
    assert retry_delay(policy, 1, failure(FailureClass.AGENT_LOST), now=NOW) is None
