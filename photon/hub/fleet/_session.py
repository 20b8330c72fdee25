"""The live side of the fleet: one `AgentSession` per connected agent stream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ...model import AgentMetrics, AgentState, ToolInfo
from ..core import AgentView
from ._messages import AgentMessage

log = logging.getLogger(__name__)
TAKE_AT_ONCE = 256  # messages handed to one stream write at most


@dataclass(slots=True, kw_only=True)
class AgentSession:
    """One agent's current stream and what it last told the hub (mutable, in memory only)."""

    agent_id: str
    name: str
    labels: dict[str, str]
    slots: int
    hostname: str
    version: str
    platform: str
    tools: Sequence[ToolInfo]
    send_queue_limit: int
    draining: bool = False
    metrics: AgentMetrics | None = None
    running: set[str] = field(default_factory=set)
    connected_at: float = field(default_factory=time.time)
    last_heartbeat_at: float | None = None
    last_seen: float = field(default_factory=time.monotonic)
    stream_open: bool = True
    close_reason: str = ""
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _outbound: asyncio.Queue[AgentMessage] = field(init=False)
    # Built on demand and kept until something it shows changes: dispatch and submit look at
    # every agent's view, so with many agents rebuilding each one every time would dominate.
    _view: AgentView | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._outbound = asyncio.Queue(self.send_queue_limit)

    @property
    def state(self) -> AgentState:
        if not self.stream_open:
            return AgentState.DISCONNECTED
        return AgentState.DRAINING if self.draining else AgentState.CONNECTED

    # Changes to what the view shows go through these (`running` is read-only elsewhere).

    def hold(self, task_id: str) -> None:
        """The agent runs (or is still ending) this task: it takes a slot."""
        self.running.add(task_id)
        self._view = None

    def release(self, task_id: str) -> None:
        self.running.discard(task_id)
        self._view = None

    def report(self, metrics: AgentMetrics, tools: Sequence[ToolInfo] | None = None) -> None:
        """A heartbeat's news: metrics, and the tools when they changed."""
        self.metrics = metrics
        if tools is not None:
            self.tools = tools
        self._view = None

    def set_draining(self, draining: bool) -> None:
        self.draining = draining
        self._view = None

    def send(self, message: AgentMessage) -> bool:
        """Queue a message for the agent; a full queue closes the stream (the agent reconnects)."""
        if not self.stream_open:
            return False
        try:
            self._outbound.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("agent %s is not reading its stream; closing it", self.agent_id)
            self.close("send queue full")
            return False
        return True

    async def take_outbound(self) -> list[AgentMessage]:
        """What to write next: everything queued (at least one message), oldest first."""
        taken = [await self._outbound.get()]
        while len(taken) < TAKE_AT_ONCE and not self._outbound.empty():
            taken.append(self._outbound.get_nowait())
        return taken

    def close(self, reason: str) -> None:
        if not self.stream_open:
            return
        self.stream_open = False
        self._view = None
        self.close_reason = reason
        # Drop what the agent never read; the stream's handler ends on `closed`.
        while not self._outbound.empty():
            self._outbound.get_nowait()
        self.closed.set()

    def view(self) -> AgentView:
        if self._view is None:
            self._view = self._build_view()
        return self._view

    def _build_view(self) -> AgentView:
        return AgentView(
            id=self.agent_id,
            name=self.name,
            labels=self.labels,
            tools=frozenset(t.name for t in self.tools if t.ready),
            disabled_tools=frozenset(t.name for t in self.tools if not t.enabled),
            slots=self.slots,
            running=len(self.running),
            accepting=self.stream_open and not self.draining,
            draining=self.draining,
            cpu_percent=self.metrics.cpu_percent if self.metrics else 0.0,
            memory_percent=self.metrics.memory_percent if self.metrics else 0.0,
        )


class Fleet:
    """Sessions by agent id. A session stays after its stream closes until the agent is lost."""

    def __init__(self) -> None:
        self._sessions: dict[str, AgentSession] = {}

    def attach(self, session: AgentSession) -> AgentSession | None:
        """Add a new stream's session, returning the one it replaces (closed)."""
        previous = self._sessions.get(session.agent_id)
        if previous is not None:
            previous.close("replaced by a new stream")
            for task_id in previous.running:
                session.hold(task_id)
        self._sessions[session.agent_id] = session
        return previous

    def get(self, agent_id: str) -> AgentSession | None:
        return self._sessions.get(agent_id)

    def remove(self, session: AgentSession) -> None:
        if self._sessions.get(session.agent_id) is session:
            del self._sessions[session.agent_id]

    def __iter__(self) -> Iterator[AgentSession]:
        return iter(list(self._sessions.values()))

    def views(self) -> list[AgentView]:
        return [s.view() for s in self._sessions.values()]

    def tools(self) -> list[ToolInfo]:
        """What the agents with an open stream offer."""
        return [t for s in self._sessions.values() if s.stream_open for t in s.tools]
