"""Spend and tokens of ended tasks, grouped by tool, agent, workflow or UTC day (no I/O).

A task counts once it has ended, on the day it ended. Its spend is what each of its attempts
spent, as budgets count it (`tasks.Spend`): the last attempt's outputs' `cost_usd` when they
report one, else that attempt's `cost` events, and the `cost` events of every attempt before
it (a failed attempt has spent too). Its tokens are what its outputs report (`usage`: see
`core.usage_of`). Tasks that reported nothing still count as tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from ..core import TaskRecord, usage_of
from ..tasks import Spend
from ..workflows import StepKey

NONE = "-"  # the key of tasks that have none (no agent, no workflow)
TOTAL = "total"


class CostBy(StrEnum):
    """What a cost report groups tasks by."""

    TOOL = "tool"
    AGENT = "agent"
    WORKFLOW = "workflow"
    DAY = "day"  # the UTC date a task ended, YYYY-MM-DD


@dataclass(frozen=True, slots=True, kw_only=True)
class CostRow:
    """The tasks of one group and what they spent."""

    key: str
    tasks: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0


def cost_rows(
    records: Iterable[TaskRecord],
    *,
    by: CostBy,
    since: float = 0.0,
    attempt_costs: Mapping[str, Mapping[int, float]] | None = None,
) -> list[CostRow]:
    """One row per group of the tasks that ended at or after `since` (Unix seconds), the
    costliest first, then by key (days: oldest first). `attempt_costs`: task id -> attempt ->
    the dollars its `cost` events reported."""
    key_of = _KEYS[by]
    sums: dict[str, list[float]] = {}
    for record in records:
        if record.finished_at is None or record.finished_at < since:
            continue
        usage = usage_of(record.outputs)
        row = sums.setdefault(key_of(record), [0, 0.0, 0, 0, 0, 0])
        row[0] += 1
        row[1] += spent(record, (attempt_costs or {}).get(record.id, {}))
        row[2] += usage.input_tokens
        row[3] += usage.output_tokens
        row[4] += usage.cache_read_tokens
        row[5] += usage.cache_creation_tokens
    rows = [_row(key, sums[key]) for key in sums]
    if by is CostBy.DAY:
        return sorted(rows, key=lambda r: r.key)
    return sorted(rows, key=lambda r: (-r.cost_usd, r.key))


def spent(record: TaskRecord, attempt_costs: Mapping[int, float]) -> float:
    """What an ended task spent over all its attempts."""
    spend = Spend()
    for attempt, usd in attempt_costs.items():
        spend.event(record.id, attempt, "cost", {"usd": usd})
    return spend.ended(record.id, record.attempt, record.outputs)


def total(rows: Iterable[CostRow]) -> CostRow:
    """The rows added up, under the key "total"."""
    sums = [0, 0.0, 0, 0, 0, 0]
    for row in rows:
        for index, value in enumerate(_values(row)):
            sums[index] += value
    return _row(TOTAL, sums)


def day_of(timestamp: float) -> str:
    """The UTC date of a Unix time, YYYY-MM-DD."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def _workflow(record: TaskRecord) -> str:
    key = StepKey.parse(record.spec.idempotency_key)
    return key.workflow_id if key is not None else NONE


def _day(record: TaskRecord) -> str:
    assert record.finished_at is not None  # only ended tasks are grouped
    return day_of(record.finished_at)


_KEYS: dict[CostBy, Callable[[TaskRecord], str]] = {
    CostBy.TOOL: lambda r: r.spec.tool,
    CostBy.AGENT: lambda r: r.agent_id or NONE,
    CostBy.WORKFLOW: _workflow,
    CostBy.DAY: _day,
}


def _values(row: CostRow) -> tuple[float, ...]:
    return (
        row.tasks,
        row.cost_usd,
        row.input_tokens,
        row.output_tokens,
        row.cache_read_tokens,
        row.cache_creation_tokens,
    )


def _row(key: str, sums: list[float]) -> CostRow:
    return CostRow(
        key=key,
        tasks=int(sums[0]),
        cost_usd=round(sums[1], 9),  # sums of binary fractions: 0.1 + 0.2 reads as 0.3
        input_tokens=int(sums[2]),
        output_tokens=int(sums[3]),
        cache_read_tokens=int(sums[4]),
        cache_creation_tokens=int(sums[5]),
    )
