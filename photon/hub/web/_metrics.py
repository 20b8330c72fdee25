"""Hub metrics on an injected registry (tests get a fresh one), else on one made when scraped.

prometheus_client is imported only then, at the first scrape: it adds about 3 MB to the hub's
resident memory, which a hub that nobody scrapes should not carry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...model import AgentState
from ..fleet import Fleet

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import GaugeMetricFamily


class HubMetrics:
    """The fleet's gauges, computed at each scrape."""

    def __init__(self, *, fleet: Fleet, registry: CollectorRegistry | None = None) -> None:
        self._collector = _FleetCollector(fleet)
        self._registry = registry
        if registry is not None:
            registry.register(self._collector)

    def scrape(self) -> tuple[str, bytes]:
        """The content type and body of a /metrics response."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self._registry is None:
            self._registry = CollectorRegistry()
            self._registry.register(self._collector)
        return CONTENT_TYPE_LATEST, generate_latest(self._registry)


class _FleetCollector:
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from prometheus_client.core import GaugeMetricFamily  # only a registry calls this

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
