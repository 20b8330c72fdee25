"""What placement sees of an agent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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
