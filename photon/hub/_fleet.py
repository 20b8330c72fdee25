"""The live side of the fleet: one `AgentSession` per connected agent stream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from .._outgoing import Outgoing
from ..model import AgentState
from ..v1 import common_pb2, mesh_pb2
from ._scheduler import AgentView

log = logging.getLogger(__name__)


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
    tools: list[common_pb2.ToolCapability]
    send_queue_limit: int
    draining: bool = False
    metrics: common_pb2.AgentMetrics | None = None
    running: set[str] = field(default_factory=set)
    connected_at: float = field(default_factory=time.time)
    last_heartbeat_at: float | None = None
    last_seen: float = field(default_factory=time.monotonic)
    stream_open: bool = True
    close_reason: str = ""
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _outbox: Outgoing[mesh_pb2.ConnectResponse] = field(init=False)
    # Built on demand and kept until something it shows changes: dispatch and submit look at
    # every agent's view, so with many agents rebuilding each one every time would dominate.
    _view: AgentView | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._outbox = Outgoing(
            lambda group: mesh_pb2.ConnectResponse(batch=group), maxsize=self.send_queue_limit
        )

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

    def report(
        self,
        metrics: common_pb2.AgentMetrics,
        tools: list[common_pb2.ToolCapability] | None = None,
    ) -> None:
        """A heartbeat's news: metrics, and the tools when they changed."""
        self.metrics = metrics
        if tools is not None:
            self.tools = tools
        self._view = None

    def set_draining(self, draining: bool) -> None:
        self.draining = draining
        self._view = None

    def send(self, message: mesh_pb2.ConnectResponse) -> bool:
        """Queue a message for the agent; a full queue closes the stream (the agent reconnects)."""
        if not self.stream_open:
            return False
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("agent %s is not reading its stream; closing it", self.agent_id)
            self.close("send queue full")
            return False
        return True

    async def next_outgoing(self) -> mesh_pb2.ConnectResponse:
        """The next message to write: everything queued, joined into one."""
        return await self._outbox.get()

    def close(self, reason: str) -> None:
        if not self.stream_open:
            return
        self.stream_open = False
        self._view = None
        self.close_reason = reason
        # Drop what the agent never read; the stream's handler ends on `closed`.
        self._outbox.clear()
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
            tools=frozenset(t.name for t in self.tools if t.available and t.enabled),
            disabled_tools=frozenset(t.name for t in self.tools if not t.enabled),
            slots=self.slots,
            running=len(self.running),
            accepting=self.stream_open and not self.draining,
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
