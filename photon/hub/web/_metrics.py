"""Hub metrics on an injected registry (tests get a fresh one), else on one made when scraped.

prometheus_client is imported only then, at the first scrape: it adds about 3 MB to the hub's
resident memory, which a hub that nobody scrapes should not carry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ...model import AgentState
from ..fleet import Fleet
from ..tasks import QuotaBlock

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import GaugeMetricFamily


class HubMetrics:
    """The fleet's gauges, computed at each scrape."""

    def __init__(
        self,
        *,
        fleet: Fleet,
        registry: CollectorRegistry | None = None,
        quota: Callable[[], Iterable[QuotaBlock]] | None = None,
    ) -> None:
        self._collectors: list[_FleetCollector | _QuotaCollector] = [_FleetCollector(fleet)]
        if quota is not None:
            self._collectors.append(_QuotaCollector(quota))
        self._registry = registry
        if registry is not None:
            for collector in self._collectors:
                registry.register(collector)

    def scrape(self) -> tuple[str, bytes]:
        """The content type and body of a /metrics response."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self._registry is None:
            self._registry = CollectorRegistry()
            for collector in self._collectors:
                self._registry.register(collector)
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


class _QuotaCollector:
    """`photon_tool_quota_blocked{tool}`: how many agents each tool is out of quota on."""

    def __init__(self, blocks: Callable[[], Iterable[QuotaBlock]]) -> None:
        self._blocks = blocks

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from prometheus_client.core import GaugeMetricFamily  # only a registry calls this

        counts = Counter(b.tool for b in self._blocks())
        gauge = GaugeMetricFamily(
            "photon_tool_quota_blocked",
            "Agents a tool is out of quota on, until its reset",
            labels=["tool"],
        )
        for tool, count in sorted(counts.items()):
            gauge.add_metric([tool], count)
        yield gauge
