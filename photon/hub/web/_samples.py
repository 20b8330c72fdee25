"""Each agent's utilisation over the last half hour: a small ring of samples per agent, taken
from what the fleet's heartbeats last said (in memory; a hub restart starts them afresh)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ..core import AgentView

SAMPLES = 360  # per agent: 30 minutes at one sample every 5 s
MAX_AGENTS = 2000  # agents with a ring; the one sampled longest ago goes first beyond it


@dataclass(frozen=True, slots=True)
class Sample:
    time: float
    cpu: float
    memory: float
    busy: float  # slots in use, as a share of the agent's slots

    def to_list(self) -> list[float]:
        return [round(self.time, 1), round(self.cpu, 1), round(self.memory, 1), round(self.busy, 3)]


class UtilisationRing:
    def __init__(self, *, samples: int = SAMPLES, max_agents: int = MAX_AGENTS) -> None:
        self._samples = samples
        self._max_agents = max_agents
        self._rings: dict[str, deque[Sample]] = {}

    def sample(self, views: Iterable[AgentView], now: float) -> None:
        for view in views:
            ring = self._rings.pop(view.id, None) or deque(maxlen=self._samples)
            busy = view.running / view.slots if view.slots else 0.0
            ring.append(Sample(now, view.cpu_percent, view.memory_percent, busy))
            self._rings[view.id] = ring  # re-inserted: the dict stays oldest-sampled first
        while len(self._rings) > self._max_agents:
            del self._rings[next(iter(self._rings))]

    def of(self, agent_id: str) -> list[Sample]:
        return list(self._rings.get(agent_id, ()))
