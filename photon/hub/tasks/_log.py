"""The hub's log lines about tasks: one at INFO when a task is submitted, and one when an
attempt fails or times out (retried or not); nothing per progress event. Each line is bounded
(what it quotes is cut to `max_quote`) and carries `task_id` (and `agent_id`) as fields for
JSON logs."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from ...model import FailureClass, TaskState
from ..core import Limits, TaskRecord, quote

log = logging.getLogger("photon.hub.tasks")
_FAILING = frozenset({TaskState.FAILED, TaskState.TIMED_OUT, TaskState.RETRY_WAIT})


def submitted(tasks: Sequence[TaskRecord], limits: Limits) -> None:
    """One line for a task; one for a batch (a line per task of 10,000 would hold the loop)."""
    if len(tasks) == 1:
        (task,) = tasks
        spec = task.spec
        tool = quote(f"{spec.tool} {spec.action}".strip(), limits)
        log.info("task %s submitted: %s", task.id, tool, extra={"task_id": task.id})
    elif tasks:
        tools = Counter(task.spec.tool for task in tasks)
        counts = ", ".join(f"{tool} x{n}" for tool, n in tools.most_common(5))
        more = f" and {len(tools) - 5} more tools" if len(tools) > 5 else ""
        log.info(
            "%d tasks submitted (%s to %s): %s",
            len(tasks),
            tasks[0].id,
            tasks[-1].id,
            quote(counts + more, limits),
        )


def transition(task: TaskRecord, limits: Limits) -> None:
    """Say so when `task` (as just recorded) ended in failure or is waiting to retry one."""
    failure = task.failure
    if failure is None or task.state not in _FAILING:
        return
    timed_out = failure.failure_class is FailureClass.TIMEOUT or task.state is TaskState.TIMED_OUT
    what = "timed out" if timed_out else "failed"
    then = "will retry" if task.state is TaskState.RETRY_WAIT else "giving up"
    log.info(
        "task %s attempt %d %s (%s; %s): %s",
        task.id,
        task.attempt,
        what,
        failure.failure_class.value,
        then,
        quote(failure.message, limits),
        extra={"task_id": task.id, "agent_id": task.agent_id},
    )
