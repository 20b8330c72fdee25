"""Quota blocks (pure): which tools are out of quota on which agents, and until when.

An attempt that fails with failure class `quota` blocks its tool on its agent until the reset
time the tool gave (`Failure.retry_at`), or for DEFAULT_BLOCK seconds when it gave none. No
clock is read here: callers pass wall time (Unix seconds, what resets are given in) and
monotonic time (what expiry is measured in) together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..._utc import rfc3339
from ...model import TaskSpec, ToolInfo
from ._validation import input_names, resolve_action

DEFAULT_BLOCK = 60.0  # seconds a tool stays blocked on an agent when it gave no reset time


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaBlock:
    agent_id: str
    tool: str
    until: float  # Unix time


def out_of_quota(tool: str, until: float) -> str:
    """Why a task waits when its tool is blocked on every agent that could run it."""
    return f"{tool} out of quota on all agents until {rfc3339(until)}"


class QuotaBlocks:
    """The blocks in force; expired ones are dropped as they are looked at."""

    def __init__(self) -> None:
        self._until: dict[tuple[str, str], tuple[float, float]] = {}  # -> (wall, mono)

    def block(
        self, agent_id: str, tool: str, retry_at: float | None, *, wall: float, mono: float
    ) -> float:
        """Block `tool` on the agent until `retry_at` (Unix time), or for DEFAULT_BLOCK
        seconds; a longer block already there stays. Returns the block's end (Unix time)."""
        until = retry_at if retry_at else wall + DEFAULT_BLOCK
        current = self._until.get((agent_id, tool))
        if current is not None and current[0] >= until:
            return current[0]
        self._until[agent_id, tool] = (until, mono + (until - wall))
        return until

    def blocked(self, tool: str, mono: float) -> dict[str, float]:
        """The agents `tool` is blocked on now, with when each block ends (Unix time)."""
        found: dict[str, float] = {}
        for (agent_id, blocked_tool), (wall_until, mono_until) in list(self._until.items()):
            if mono_until <= mono:
                del self._until[agent_id, blocked_tool]
            elif blocked_tool == tool:
                found[agent_id] = wall_until
        return found

    def active(self, mono: float) -> list[QuotaBlock]:
        """Every block in force, by agent then tool."""
        return [
            QuotaBlock(agent_id=agent_id, tool=tool, until=wall_until)
            for (agent_id, tool), (wall_until, mono_until) in sorted(self._until.items())
            if mono_until > mono
        ]

    def next_expiry(self, mono: float) -> float | None:
        """When the next block ends (monotonic), if any is in force."""
        return min((m for _, m in self._until.values() if m > mono), default=None)

    def __bool__(self) -> bool:
        return bool(self._until)


def fallback_spec(spec: TaskSpec, tool: str, tools: Iterable[ToolInfo]) -> TaskSpec:
    """The task as `tool` runs it instead of its own tool: the fallback's default action, the
    inputs that action accepts (all of them when it publishes no schema), and the fallbacks
    after `tool` left for a later quota failure."""
    later = tuple(spec.fallback)[tuple(spec.fallback).index(tool) + 1 :]
    switched, schema = resolve_action(replace(spec, tool=tool, action="", fallback=later), tools)
    accepted = input_names(schema)
    if accepted is not None:
        switched = replace(switched, inputs={k: v for k, v in spec.inputs.items() if k in accepted})
    return switched
