"""What `photonctl top` shows (pure): agents, queues by tool, running tasks, as lines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..client import Agent, Task
from ..model import TaskState
from ._output import human_age, human_duration, render

# A key and what it sorts the agents by (highest first, but names A to Z).
SORTS = {"c": "cpu", "m": "memory", "n": "name", "t": "tasks"}
WAITING_STATES = (TaskState.WAITING, TaskState.QUEUED, TaskState.RETRY_WAIT)
RUNNING_STATES = (TaskState.ASSIGNED, TaskState.RUNNING)

_AGENT_COLUMNS = [
    ("name", "name"),
    ("state", "state"),
    ("cpu", "cpu"),
    ("mem", "mem"),
    ("tasks", "tasks"),
    ("load", "load"),
    ("heartbeat", "heartbeat"),
]
_QUEUE_COLUMNS = [("tool", "tool"), ("waiting", "count"), ("oldest", "oldest"), ("why", "why")]
_RUNNING_COLUMNS = [
    ("id", "id"),
    ("tool", "tool"),
    ("state", "state"),
    ("agent", "agent"),
    ("attempt", "attempt"),
    ("for", "for"),
]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the hub said at one moment."""

    agents: Sequence[Agent]
    tasks: Sequence[Task]  # the unfinished ones
    time: float


def lines(snapshot: Snapshot, sort: str = "cpu", *, colour: bool = False) -> list[str]:
    """The whole view, a header line then three tables."""
    agents, now = snapshot.agents, snapshot.time
    waiting = [t for t in snapshot.tasks if t.state in WAITING_STATES]
    running = [t for t in snapshot.tasks if t.state in RUNNING_STATES]
    connected = sum(a.state.value == "connected" for a in agents)
    slots = sum(a.slots for a in agents)
    header = (
        f"photon top - {len(agents)} agents ({connected} connected), "
        f"{len(running)}/{slots} slots busy, {len(waiting)} waiting"
    )
    names = {a.id: a.name for a in agents}
    out = [header, "", f"AGENTS (sort: {sort}; keys c m n t, q quits)"]
    out += _table([_agent_row(a, now) for a in _sorted(agents, sort)], _AGENT_COLUMNS, colour)
    out += ["", "QUEUES"]
    out += _table(_queue_rows(waiting, now), _QUEUE_COLUMNS, colour)
    out += ["", "RUNNING"]
    rows = [_running_row(t, names, now) for t in sorted(running, key=_started)]
    out += _table(rows, _RUNNING_COLUMNS, colour)
    return out


def _table(
    rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]], colour: bool
) -> list[str]:
    if not rows:
        return ["  (none)"]
    return render(rows, "table", columns=columns, colour=colour).splitlines()


def _sorted(agents: Sequence[Agent], sort: str) -> list[Agent]:
    if sort == "name":
        return sorted(agents, key=lambda a: a.name)
    return sorted(agents, key=lambda a: (-_measure(a, sort), a.name))


def _measure(agent: Agent, sort: str) -> float:
    if sort == "tasks":
        return float(agent.running_tasks)
    return agent.metrics.get("cpu_percent" if sort == "cpu" else "memory_percent", -1.0)


def _agent_row(agent: Agent, now: float) -> dict[str, Any]:
    metrics = agent.metrics
    return {
        "name": agent.name,
        "state": agent.state.value,
        "cpu": f"{metrics['cpu_percent']:.0f}%" if metrics else "-",
        "mem": f"{metrics['memory_percent']:.0f}%" if metrics else "-",
        "tasks": f"{agent.running_tasks}/{agent.slots}",
        "load": f"{metrics['load1']:.2f}" if metrics else "-",
        "heartbeat": human_age(agent.last_heartbeat_at, now),
    }


def _queue_rows(waiting: Sequence[Task], now: float) -> list[dict[str, Any]]:
    by_tool: dict[str, list[Task]] = {}
    for task in waiting:
        by_tool.setdefault(task.tool, []).append(task)
    rows = []
    for tool, tasks in sorted(by_tool.items(), key=lambda item: (-len(item[1]), item[0])):
        reasons = Counter(t.waiting_reason or t.state.value.lower() for t in tasks)
        why = "; ".join(f"{n}x {r}" if n > 1 else r for r, n in reasons.most_common(2))
        rows.append(
            {
                "tool": tool,
                "count": len(tasks),
                "oldest": human_age(min(t.created_at for t in tasks), now),
                "why": why[:100],
            }
        )
    return rows


def _started(task: Task) -> float:
    return task.started_at or task.created_at


def _running_row(task: Task, names: dict[str, str], now: float) -> dict[str, Any]:
    return {
        "id": task.id,
        "tool": task.tool,
        "state": task.state.value,
        "agent": names.get(task.agent_id, task.agent_id) or "-",
        "attempt": task.attempt,
        "for": human_duration(now - _started(task)),
    }
