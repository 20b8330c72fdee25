"""Scheduling decisions without I/O: `place` for one task, `Scheduler` for the whole queue.

Nothing here reads a clock or touches the network: callers pass `now` and a snapshot of the
fleet, and get back the assignments to carry out.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..._selector import parse_selector
from ...model import TaskSpec
from ..core import AgentView
from ._quota import QuotaBlocks, out_of_quota
from ._sessions import awaiting_session


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting:
    reason: str
    out_of_quota: bool = False  # the tool is blocked on every agent that could run it


def place(
    spec: TaskSpec,
    agents: Sequence[AgentView],
    *,
    avoid: frozenset[str] = frozenset(),
    blocked: Mapping[str, float] | None = None,
) -> Placement | Waiting:
    """Pick the least-loaded eligible agent, or say why none is eligible.

    Agents in `avoid` (where an earlier attempt failed) are used only when no other fits;
    agents in `blocked` (the tool is out of quota there, until the Unix time given) never.

    Load is running/slots, then CPU and memory; remaining ties go to the first in `agents`,
    so a caller rotating the list spreads equal choices.
    """
    candidates = [a for a in agents if a.accepting]
    if spec.agent:  # an agent id: names are resolved at submit
        candidates = [a for a in candidates if a.id == spec.agent]
        if not candidates:
            pinned = next((a for a in agents if a.id == spec.agent), None)
            if spec.continue_from:
                draining = pinned is not None and pinned.draining
                name = pinned.name if pinned is not None else spec.agent
                state = "is draining" if draining else "is not connected"
                return Waiting(reason=awaiting_session(spec, name, state))
            if pinned is not None and pinned.draining:
                return Waiting(reason=f"agent {pinned.name} is draining")
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
    if blocked:
        unblocked = [a for a in with_tool if a.id not in blocked]
        if not unblocked:
            until = min(blocked[a.id] for a in with_tool)
            return Waiting(reason=out_of_quota(spec.tool, until), out_of_quota=True)
        with_tool = unblocked
    free = [a for a in with_tool if a.free_slots > 0]
    if not free:
        return Waiting(reason=f"all slots busy on the {len(with_tool)} eligible agent(s)")
    free = [a for a in free if a.id not in avoid] or free
    best = min(
        free, key=lambda a: (a.running / max(a.slots, 1), a.cpu_percent + a.memory_percent / 4)
    )
    return Placement(agent_id=best.id)


def refusal(spec: TaskSpec, agents: Sequence[AgentView]) -> str | None:
    """Why a submission can never run on the current fleet (tool disabled or absent everywhere)."""
    live = [a for a in agents if not spec.agent or a.id == spec.agent]
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


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolLimit:
    """Hub-wide limits for one tool (API quotas): tasks at once, and tasks started per second."""

    concurrency: int | None = None
    rate: float | None = None
    burst: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    task_id: str
    agent_id: str
    fallback: str = ""  # the fallback tool to run instead, its own being out of quota
    quota_until: float = 0.0  # then: when the first block on the task's own tool ends


@dataclass(slots=True, kw_only=True)
class _Queued:
    spec: TaskSpec
    key: tuple[int, int, str]
    ready_at: float
    avoid: frozenset[str]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@dataclass(slots=True, kw_only=True)
class _Holding:
    tool: str
    locks: tuple[str, ...]


class Scheduler:
    """The queue and the mesh-wide resources queued tasks compete for.

    Order: higher priority first, FIFO within a priority. A task holds its locks and its tool's
    concurrency from assignment until `release()`.
    """

    def __init__(self, *, limits: Mapping[str, ToolLimit] | None = None) -> None:
        self._limits = dict(limits or {})
        self._queued: dict[str, _Queued] = {}
        self._delayed: dict[str, float] = {}  # backed-off entries only, so next_ready stays cheap
        self._order: list[tuple[int, int, str]] = []
        self._arrivals = 0
        self._holding: dict[str, _Holding] = {}
        self._lock_owner: dict[str, str] = {}
        self._running_by_tool: Counter[str] = Counter()
        self._buckets: dict[str, _Bucket] = {}
        self._reasons: dict[str, str] = {}
        self._rotation = 0
        self.quota = QuotaBlocks()

    def __len__(self) -> int:
        return len(self._queued)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._queued

    def enqueue(
        self,
        task_id: str,
        spec: TaskSpec,
        *,
        ready_at: float = 0.0,
        avoid: frozenset[str] = frozenset(),
    ) -> None:
        """Queue a task; it is not placed before `ready_at` (retry backoff)."""
        self.dequeue(task_id)
        self._arrivals += 1
        key = (-spec.priority, self._arrivals, task_id)
        self._queued[task_id] = _Queued(spec=spec, key=key, ready_at=ready_at, avoid=avoid)
        if ready_at:
            self._delayed[task_id] = ready_at
        bisect.insort(self._order, key)

    def dequeue(self, task_id: str) -> bool:
        entry = self._queued.pop(task_id, None)
        self._delayed.pop(task_id, None)
        self._reasons.pop(task_id, None)
        if entry is None:
            return False
        index = bisect.bisect_left(self._order, entry.key)
        del self._order[index]
        return True

    def hold(self, task_id: str, spec: TaskSpec) -> None:
        """Record resources held by a task that runs without having been queued here
        (taken over after a hub restart)."""
        self._acquire(task_id, spec)

    def release(self, task_id: str) -> None:
        """The task's attempt ended (or was abandoned): free its locks and tool concurrency."""
        holding = self._holding.pop(task_id, None)
        if holding is None:
            return
        self._running_by_tool[holding.tool] -= 1
        for lock in holding.locks:
            if self._lock_owner.get(lock) == task_id:
                del self._lock_owner[lock]

    def reason(self, task_id: str) -> str:
        return self._reasons.get(task_id, "")

    def next_ready(self, now: float) -> float | None:
        """The earliest future time a backed-off task becomes ready or a quota block ends."""
        ready = min((t for t in self._delayed.values() if t > now), default=None)
        expiry = self.quota.next_expiry(now) if self._queued and self.quota else None
        return min((t for t in (ready, expiry) if t is not None), default=None)

    def _acquire(self, task_id: str, spec: TaskSpec) -> None:
        self._holding[task_id] = _Holding(tool=spec.tool, locks=tuple(spec.locks))
        self._running_by_tool[spec.tool] += 1
        for lock in spec.locks:
            self._lock_owner[lock] = task_id

    def _blocked(self, spec: TaskSpec, now: float) -> str:
        for lock in spec.locks:
            owner = self._lock_owner.get(lock)
            if owner is not None:
                return f"lock {lock} held by task {owner}"
        limit = self._limits.get(spec.tool)
        if limit is None:
            return ""
        if limit.concurrency is not None and self._running_by_tool[spec.tool] >= limit.concurrency:
            return f"tool {spec.tool} is at its concurrency limit ({limit.concurrency})"
        if limit.rate is not None and self._tokens(spec.tool, limit, now) < 1:
            return f"tool {spec.tool} is at its rate limit ({limit.rate:g}/s)"
        return ""

    def _tokens(self, tool: str, limit: ToolLimit, now: float) -> float:
        assert limit.rate is not None
        bucket = self._buckets.setdefault(tool, _Bucket(tokens=float(limit.burst), updated=now))
        bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.updated) * limit.rate)
        bucket.updated = now
        return bucket.tokens

    def schedule(self, agents: Sequence[AgentView], now: float) -> list[Assignment]:
        """Place as many queued tasks as fit, in priority order, and note why the rest wait."""
        if not self._order:
            return []
        views = {a.id: a for a in agents}
        free = sum(max(a.free_slots, 0) for a in agents if a.accepting)
        assignments: list[Assignment] = []
        # Tasks that ask for the same placement get the same answer within a pass (placing
        # only takes slots away), so with many queued tasks and many agents each kind of task
        # is placed against the fleet once, not each task.
        unplaceable: dict[tuple[str, str, str, frozenset[str], tuple[str, ...]], str] = {}
        for key in self._order:  # not changed in the loop: placed tasks leave it after
            task_id = key[2]
            entry = self._queued[task_id]
            if free <= 0:
                break  # the rest keep their last reason; nothing more fits this round
            if entry.ready_at > now:
                self._reasons[task_id] = f"retrying in {entry.ready_at - now:.1f}s"
                continue
            blocked = self._blocked(entry.spec, now)
            if blocked:
                self._reasons[task_id] = blocked
                continue
            kind = (
                entry.spec.tool,
                entry.spec.selector,
                entry.spec.agent,
                entry.avoid,
                tuple(entry.spec.fallback),
            )
            if (reason := unplaceable.get(kind)) is not None:
                self._reasons[task_id] = reason
                continue
            candidates = list(views.values())
            shift = self._rotation % max(len(candidates), 1)
            rotated = candidates[shift:] + candidates[:shift]
            out = self.quota.blocked(entry.spec.tool, now) if self.quota else None
            decision = place(entry.spec, rotated, avoid=entry.avoid, blocked=out)
            spec, fallback, quota_until = entry.spec, "", 0.0
            if isinstance(decision, Waiting) and decision.out_of_quota and out:
                quota_until = min(out.values())
                spec, fallback, decision = self._fall_back(entry.spec, rotated, decision, now)
            if isinstance(decision, Waiting):
                self._reasons[task_id] = unplaceable[kind] = decision.reason
                continue
            self._rotation += 1
            limit = self._limits.get(spec.tool)
            if limit is not None and limit.rate is not None:
                self._buckets[spec.tool].tokens -= 1
            self._acquire(task_id, spec)
            view = views[decision.agent_id]
            views[decision.agent_id] = replace(view, running=view.running + 1)
            free -= 1
            assignments.append(
                Assignment(
                    task_id=task_id,
                    agent_id=decision.agent_id,
                    fallback=fallback,
                    quota_until=quota_until,
                )
            )
        for assignment in assignments:
            self.dequeue(assignment.task_id)
        return assignments

    def _fall_back(
        self, spec: TaskSpec, agents: Sequence[AgentView], waiting: Waiting, now: float
    ) -> tuple[TaskSpec, str, Placement | Waiting]:
        """The first of the task's fallback tools that can be placed now (not blocked, within
        its limits), as a spec of that tool only (the caller adapts the rest), its name and its
        placement; else the task's own spec and why it waits."""
        for tool in spec.fallback:
            other = replace(spec, tool=tool)
            if self._blocked(other, now):
                continue
            blocked = self.quota.blocked(tool, now)
            decision = place(other, agents, blocked=blocked)
            if isinstance(decision, Placement):
                return other, tool, decision
        return spec, "", waiting
