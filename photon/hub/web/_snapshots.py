"""What each dashboard view shows, as JSON-ready dicts built from the hub's parts."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from ...errors import NotFoundError
from ...model import AgentState, TaskState
from ..core import TaskEventRecord, TaskRecord
from ..fleet import AgentSession
from ._parts import DashboardParts
from ._samples import UtilisationRing
from ._stats import by, cost_table, daily_series, duration, run_stats, usage

RECENT_TASKS = 500  # the ended tasks the figures are computed over
LIST_SIZE = 200
EVENTS_SHOWN = 500
WAITING = (TaskState.WAITING, TaskState.QUEUED, TaskState.RETRY_WAIT)
ACTIVE = (TaskState.ASSIGNED, TaskState.RUNNING)
ENDED = (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.TIMED_OUT)
MAX_LAST_EVENTS = 5000


class LastEvents:
    """The latest event of each unfinished task (its 'progress' line), from the engine."""

    def __init__(self) -> None:
        self._last: dict[str, TaskEventRecord] = {}

    def observe(self, item: TaskRecord | TaskEventRecord) -> None:
        if isinstance(item, TaskEventRecord):
            if item.kind != "state":
                self._last.pop(item.task_id, None)
                self._last[item.task_id] = item
                while len(self._last) > MAX_LAST_EVENTS:
                    del self._last[next(iter(self._last))]
        elif item.state.terminal:
            self._last.pop(item.id, None)

    def get(self, task_id: str) -> TaskEventRecord | None:
        return self._last.get(task_id)


def _task_row(
    task: TaskRecord, reason: str = "", last: TaskEventRecord | None = None
) -> dict[str, Any]:
    dollars, tokens = usage(task)
    return {
        "id": task.id,
        "tool": task.spec.tool,
        "action": task.spec.action,
        "state": task.state.value,
        "agent": task.agent_id,
        "attempt": task.attempt,
        "created_at": task.created_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "timeout": task.spec.timeout,
        "duration": duration(task),
        "failure": (
            {"class": task.failure.failure_class.value, "message": task.failure.message}
            if task.failure
            else None
        ),
        "waiting": reason,
        "last": last.message if last else "",
        "cost_usd": dollars,
        "tokens": tokens,
        "workflow": task.spec.labels.get("workflow", ""),
    }


def _event(event: TaskEventRecord) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "attempt": event.attempt,
        "kind": event.kind,
        "message": event.message,
        "data": dict(event.data),
        "time": event.time,
    }


class Views:
    def __init__(self, parts: DashboardParts, ring: UtilisationRing, last: LastEvents) -> None:
        self._parts = parts
        self._ring = ring
        self._last = last

    async def _tasks(self, states: tuple[TaskState, ...], limit: int) -> list[TaskRecord]:
        found: list[TaskRecord] = []
        for state in states:
            found += await self._parts.store.list_tasks(state=state, limit=limit)
        return sorted(found, key=lambda t: t.created_at, reverse=True)[:limit]

    async def _agents(self, now: float) -> list[dict[str, Any]]:
        rows = []
        fleet = self._parts.fleet
        for record in await self._parts.store.list_agents():
            if record.removed:
                continue
            session = fleet.get(record.id)
            rows.append(_agent_row(record.id, record.name, dict(record.labels), session, now))
        return rows

    async def operations(self) -> dict[str, Any]:
        now = time.time()
        engine = self._parts.engine
        waiting = await self._tasks(WAITING, LIST_SIZE)
        queues: dict[str, dict[str, Any]] = {}
        for task in waiting:
            queue = queues.setdefault(
                task.spec.tool, {"tool": task.spec.tool, "depth": 0, "reasons": Counter()}
            )
            queue["depth"] += 1
            queue["reasons"][engine.waiting_reason(task) or task.state.value.lower()] += 1
        running = await self._tasks(ACTIVE, LIST_SIZE)
        failed = await self._tasks((TaskState.FAILED, TaskState.TIMED_OUT), LIST_SIZE)
        workflows = []
        for index, record in enumerate(await self._parts.workflows.list_workflows(limit=20)):
            steps: Counter[str] = Counter()
            if index < 5 or not record.state.terminal:
                try:
                    snapshot = await self._parts.workflows.get(record.id)
                except NotFoundError:
                    continue
                steps.update(s.state.value for s in snapshot.steps)
            workflows.append(
                {
                    "id": record.id,
                    "name": record.name,
                    "state": record.state.value,
                    "created_at": record.created_at,
                    "finished_at": record.finished_at,
                    "steps": dict(steps),
                }
            )
        agents = await self._agents(now)
        return {
            "now": now,
            "agents": agents,
            "queues": [{**q, "reasons": dict(q["reasons"].most_common())} for q in queues.values()],
            "running": [_task_row(t, last=self._last.get(t.id)) for t in running],
            "workflows": workflows,
            "failures": dict(
                Counter(t.failure.failure_class.value for t in failed if t.failure).most_common()
            ),
            "recent_failures": [_task_row(t) for t in failed[:10]],
        }

    async def task(self, task_id: str) -> dict[str, Any]:
        task, reason = await self._parts.engine.get(task_id)
        events = await self._parts.store.list_task_events(task_id)
        attempts: dict[int, dict[str, Any]] = {}
        for event in events:
            entry = attempts.setdefault(
                event.attempt,
                {"attempt": event.attempt, "started": event.time, "ended": event.time, "state": ""},
            )
            entry["ended"] = event.time
            if event.kind == "state":
                entry["state"] = str(event.data.get("state", entry["state"]))
        if task.attempt in attempts:
            attempts[task.attempt]["agent"] = task.agent_id
        return {
            "task": {
                **_task_row(task, reason),
                "inputs": dict(task.spec.inputs),
                "outputs": dict(task.outputs) if task.outputs is not None else None,
                "selector": task.spec.selector,
                "labels": dict(task.spec.labels),
                "priority": task.spec.priority,
                "max_attempts": task.spec.retry.max_attempts,
            },
            "attempts": [attempts[k] for k in sorted(attempts) if k > 0],
            "events": [_event(e) for e in events[-EVENTS_SHOWN:]],
            "events_total": len(events),
        }

    async def workflow(self, workflow_id: str) -> dict[str, Any]:
        snapshot = await self._parts.workflows.get(workflow_id)
        record, spec = snapshot.record, snapshot.spec
        needs = {s.id: list(s.needs) for s in spec.steps} if spec else {}
        steps = []
        for step in snapshot.steps:
            tasks = [snapshot.tasks[i] for i in step.task_ids if i in snapshot.tasks]
            steps.append(
                {
                    "id": step.step_id,
                    "state": step.state.value,
                    "needs": needs.get(step.step_id, []),
                    "tool": next((s.task.tool for s in spec.steps if s.id == step.step_id), "")
                    if spec
                    else "",
                    "tasks": [{"id": t.id, "state": t.state.value} for t in tasks],
                    "started_at": step.started_at,
                    "finished_at": step.finished_at,
                    "message": step.message,
                }
            )
        return {
            "workflow": {
                "id": record.id,
                "name": record.name,
                "state": record.state.value,
                "created_at": record.created_at,
                "finished_at": record.finished_at,
                "message": record.message,
            },
            "steps": steps,
        }

    async def workflows(self) -> dict[str, Any]:
        records = await self._parts.workflows.list_workflows(limit=LIST_SIZE)
        return {
            "workflows": [
                {
                    "id": r.id,
                    "name": r.name,
                    "state": r.state.value,
                    "created_at": r.created_at,
                    "finished_at": r.finished_at,
                }
                for r in records
            ]
        }

    async def _recent(self) -> list[TaskRecord]:
        return await self._tasks(ENDED, RECENT_TASKS)

    async def _quota_blocks(self) -> list[dict[str, Any]]:
        """The tools out of quota on agents now: tool, agent id and name, and until when."""
        blocks = self._parts.engine.quota_blocks()
        if not blocks:
            return []
        names = {a.id: a.name for a in await self._parts.store.list_agents()}
        return [
            {
                "tool": b.tool,
                "agent_id": b.agent_id,
                "agent": names.get(b.agent_id, b.agent_id),
                "until": b.until,
            }
            for b in blocks
        ]

    async def platforms(self) -> dict[str, Any]:
        recent = await self._recent()
        groups = by(recent, "tool")
        tools: dict[str, dict[str, Any]] = {}
        for session in self._parts.fleet:
            for tool in session.tools:
                entry = tools.setdefault(tool.name, {"tool": tool.name, "agents": []})
                entry["agents"].append(
                    {
                        "agent": session.name,
                        "version": tool.version,
                        "ready": tool.available and tool.enabled,
                        "detail": tool.detail,
                    }
                )
        for name in groups:
            tools.setdefault(name, {"tool": name, "agents": []})
        blocks = await self._quota_blocks()
        for block in blocks:
            tools.setdefault(block["tool"], {"tool": block["tool"], "agents": []})
        panels = []
        for name, entry in sorted(tools.items()):
            tasks = groups.get(name, [])
            panels.append(
                {
                    **entry,
                    **run_stats(tasks),
                    "durations": [
                        round(d, 3) for t in tasks[:100] if (d := duration(t)) is not None
                    ][::-1],
                    "spend": daily_series(tasks, bucket=3600.0),
                    "quota_blocks": [
                        {"agent": b["agent"], "until": b["until"]}
                        for b in blocks
                        if b["tool"] == name
                    ],
                }
            )
        return {"tools": panels, "window": len(recent), "now": time.time()}

    async def agents(self) -> dict[str, Any]:
        now = time.time()
        recent = await self._recent()
        groups = by(recent, "agent")
        blocks = await self._quota_blocks()
        rows = []
        for row in await self._agents(now):
            tasks = groups.get(row["id"], [])
            stats = run_stats(tasks)
            rows.append(
                {
                    **row,
                    **stats,
                    "error_rate": 1 - stats["success_rate"]
                    if stats["success_rate"] is not None
                    else None,
                    "utilisation": [s.to_list() for s in self._ring.of(row["id"])],
                    "quota_blocks": [
                        {"tool": b["tool"], "until": b["until"]}
                        for b in blocks
                        if b["agent_id"] == row["id"]
                    ],
                }
            )
        return {"agents": rows, "now": now}

    async def cost(self) -> dict[str, Any]:
        recent = await self._recent()
        agents = {a.id: a.name for a in await self._parts.store.list_agents()}
        records = await self._parts.workflows.list_workflows(limit=LIST_SIZE)
        ends = [t.finished_at for t in recent if t.finished_at is not None]
        costs = await self._parts.store.attempt_costs(since=min(ends)) if ends else {}
        table = cost_table(recent, agents, {r.id: r.name for r in records}, costs)
        return {"cost": table, "window": len(recent)}


def _agent_row(
    agent_id: str, name: str, labels: dict[str, str], session: AgentSession | None, now: float
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": agent_id,
        "name": name,
        "labels": labels,
        "state": AgentState.LOST.value,
        "kind": labels.get("kind", "") or "-",
    }
    if session is None:
        return row
    metrics = session.metrics
    row.update(
        state=session.state.value,
        labels={**labels, **session.labels},
        kind=session.labels.get("kind", row["kind"]),
        heartbeat_age=now - session.last_heartbeat_at if session.last_heartbeat_at else None,
        cpu=metrics.cpu_percent if metrics else None,
        memory=metrics.memory_percent if metrics else None,
        slots=session.slots,
        running=len(session.running),
        version=session.version,
        platform=session.platform,
        hostname=session.hostname,
        tools=[
            {"name": t.name, "version": t.version, "ready": t.available and t.enabled}
            for t in session.tools
        ],
    )
    return row
