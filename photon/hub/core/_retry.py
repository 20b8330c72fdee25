"""Retry decisions per failure class (pure)."""

from __future__ import annotations

from ...model import Failure, FailureClass, RetryPolicy

# Never retried: the same inputs or credentials would fail the same way, or a user asked.
FINAL = frozenset({FailureClass.INVALID_INPUT, FailureClass.CANCELLED, FailureClass.AUTH})
# The next attempt should prefer another agent.
AGENT_SPECIFIC = frozenset({FailureClass.TOOL_MISSING, FailureClass.QUOTA, FailureClass.AGENT_LOST})


def retry_delay(policy: RetryPolicy, attempt: int, failure: Failure, *, now: float) -> float | None:
    """Seconds before the next attempt, or None when attempt `attempt` was the last one.

    `now` is wall-clock time, compared with a quota's reset time.
    """
    if failure.failure_class in FINAL or attempt >= policy.max_attempts:
        return None
    if failure.failure_class is FailureClass.AGENT_LOST:
        return 0.0  # not the task's fault: place it again at once
    delay = min(
        policy.max_backoff, policy.initial_backoff * policy.multiplier ** max(attempt - 1, 0)
    )
    if failure.failure_class is FailureClass.QUOTA and failure.retry_at:
        delay = max(delay, failure.retry_at - now)
    return delay
