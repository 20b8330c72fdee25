"""Hub metrics on an injected registry (tests get a fresh one)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..model import AgentState
from ._fleet import Fleet


class _FleetCollector(Collector):
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = dict.fromkeys(AgentState, 0)
        running = 0
        for session in self._fleet:
            counts[session.state] += 1
            running += len(session.running)
        agents = GaugeMetricFamily(
            "photon_agents", "Agents with a session, by state", labels=["state"]
        )
        for state, count in counts.items():
            agents.add_metric([state.value], count)
        yield agents
        yield GaugeMetricFamily("photon_tasks_running", "Tasks running on agents", value=running)


def register_hub_metrics(registry: CollectorRegistry, *, fleet: Fleet) -> None:
    registry.register(_FleetCollector(fleet))
