"""Placement decisions: pure functions of a task and a snapshot of the fleet (no I/O, no clock)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._selector import parse_selector
from ._store import TaskSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentView:
    """What placement needs to know about one agent."""

    id: str
    name: str
    labels: Mapping[str, str]
    tools: frozenset[str]  # available and enabled
    disabled_tools: frozenset[str]
    slots: int
    running: int
    accepting: bool  # connected and not draining
    cpu_percent: float = 0.0
    memory_percent: float = 0.0

    @property
    def free_slots(self) -> int:
        return self.slots - self.running


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting:
    reason: str


def place(spec: TaskSpec, agents: Sequence[AgentView]) -> Placement | Waiting:
    """Pick the least-loaded eligible agent, or say why none is eligible.

    Load is running/slots, then CPU and memory; remaining ties go to the first in `agents`,
    so a caller rotating the list spreads equal choices.
    """
    candidates = [a for a in agents if a.accepting]
    if spec.agent:
        candidates = [a for a in candidates if spec.agent in (a.id, a.name)]
        if not candidates:
            return Waiting(reason=f"agent {spec.agent} is not connected")
    if not candidates:
        return Waiting(reason="no agent is connected")
    with_tool = [a for a in candidates if spec.tool in a.tools]
    if not with_tool:
        disabled = [a.name for a in candidates if spec.tool in a.disabled_tools]
        if disabled:
            return Waiting(
                reason=f"tool {spec.tool!r} is disabled on {', '.join(sorted(disabled))}"
                f" (start an agent with --allow-tool {spec.tool})"
            )
        return Waiting(reason=f"no connected agent has the tool {spec.tool!r}")
    if spec.selector:
        selector = parse_selector(spec.selector)
        with_tool = [a for a in with_tool if selector.matches(a.labels)]
        if not with_tool:
            return Waiting(reason=f"selector {spec.selector!r} matches no agent with the tool")
    free = [a for a in with_tool if a.free_slots > 0]
    if not free:
        return Waiting(reason=f"all slots busy on the {len(with_tool)} eligible agent(s)")
    best = min(
        free, key=lambda a: (a.running / max(a.slots, 1), a.cpu_percent + a.memory_percent / 4)
    )
    return Placement(agent_id=best.id)


def refusal(spec: TaskSpec, agents: Sequence[AgentView]) -> str | None:
    """Why a submission can never run on the current fleet (tool disabled or absent everywhere)."""
    live = [a for a in agents if not spec.agent or spec.agent in (a.id, a.name)]
    if not live:
        return None
    if any(spec.tool in a.tools for a in live):
        return None
    disabled = sorted(a.name for a in live if spec.tool in a.disabled_tools)
    if disabled:
        return (
            f"tool {spec.tool!r} is not allowed on {', '.join(disabled)};"
            f" start an agent with --allow-tool {spec.tool}"
        )
    return f"no agent offers the tool {spec.tool!r}"
