"""What an agent says about itself (its tools, its host's metrics) and what placement sees of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionInfo:
    name: str
    description: str = ""
    input_schema_json: str = ""  # JSON Schema of the inputs; empty accepts anything


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolInfo:
    """One plugin on one agent: usable when `available` (its tool was found) and `enabled`."""

    name: str
    version: str = ""
    actions: tuple[ActionInfo, ...] = ()
    default_action: str = ""
    available: bool = False
    enabled: bool = False
    detail: str = ""  # why it is unavailable, disabled or failed to load

    @property
    def ready(self) -> bool:
        return self.available and self.enabled


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentMetrics:
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    memory_used_bytes: int = 0
    memory_total_bytes: int = 0
    load1: float = 0.0
    load5: float = 0.0
    load15: float = 0.0
    disk_percent: float = 0.0
    disk_free_bytes: int = 0
    running_tasks: int = 0
    free_slots: int = 0


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
    draining: bool = False
    cpu_percent: float = 0.0
    memory_percent: float = 0.0

    @property
    def free_slots(self) -> int:
        return self.slots - self.running
