"""Hub metrics on an injected registry (tests get a fresh one), else on one made when scraped.

prometheus_client is imported only then, at the first scrape: it adds about 3 MB to the hub's
resident memory, which a hub that nobody scrapes should not carry. Until then the hub counts in
plain numbers (`HubStats`, the fleet, the engine's queue); the collector here turns them into
Prometheus families at each scrape, beside the process and Python collectors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, TypeVar

from ...model import AgentState
from ..fleet import Fleet
from ..stats import Histogram, HubStats
from ..tasks import QuotaBlock

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

F = TypeVar("F", bound="Metric")
Queued = Callable[[], Mapping[str, int]]  # tasks waiting in the queue, by tool


class HubMetrics:
    """The hub's series, computed at each scrape."""

    def __init__(
        self,
        *,
        fleet: Fleet,
        stats: HubStats | None = None,
        queued: Queued | None = None,
        registry: CollectorRegistry | None = None,
        quota: Callable[[], Iterable[QuotaBlock]] | None = None,
    ) -> None:
        self._collector = _HubCollector(fleet, stats or HubStats(), queued or dict)
        self._quota = _QuotaCollector(quota) if quota is not None else None
        self._registry = registry
        if registry is not None:
            self._register(registry)

    def _register(self, registry: CollectorRegistry) -> None:
        _register(registry, self._collector)
        if self._quota is not None:
            registry.register(self._quota)

    def scrape(self) -> tuple[str, bytes]:
        """The content type and body of a /metrics response."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self._registry is None:
            self._registry = CollectorRegistry()
            self._register(self._registry)
        return CONTENT_TYPE_LATEST, generate_latest(self._registry)


def _register(registry: CollectorRegistry, collector: _HubCollector) -> None:
    """The hub's collector, and the process and Python ones (the library's default registry
    has those already)."""
    from prometheus_client import REGISTRY, GCCollector, PlatformCollector, ProcessCollector

    registry.register(collector)
    if registry is not REGISTRY:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)


class _HubCollector:
    def __init__(self, fleet: Fleet, stats: HubStats, queued: Queued) -> None:
        self._fleet = fleet
        self._stats = stats
        self._queued = queued

    def collect(self) -> Iterator[Metric]:
        # Imported here: only a registry calls this, after the first scrape imported it.
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        stats = self._stats
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

        queued: dict[str, int] = {}
        for tool, count in self._queued().items():
            label = stats.tool(tool)
            queued[label] = queued.get(label, 0) + count
        yield _labelled(
            GaugeMetricFamily(
                "photon_tasks_queued",
                "Tasks waiting to be placed (queued, or waiting to retry), by tool",
                labels=["tool"],
            ),
            (((tool,), count) for tool, count in queued.items()),
        )
        yield _labelled(
            CounterMetricFamily(
                "photon_tasks_submitted",
                "Tasks accepted into the store, by tool",
                labels=["tool"],
            ),
            (((tool,), count) for tool, count in stats.submitted.items()),
        )
        yield _labelled(
            CounterMetricFamily(
                "photon_tasks_finished",
                "Tasks that ended, by tool and outcome (succeeded, or the failure class)",
                labels=["tool", "outcome"],
            ),
            stats.finished.items(),
        )
        yield _histogram(
            HistogramMetricFamily(
                "photon_task_dispatch_seconds",
                "Seconds from a task entering the queue to its assignment to an agent",
            ),
            (),
            stats.dispatch,
        )
        durations = HistogramMetricFamily(
            "photon_task_duration_seconds",
            "Seconds from a task's start on an agent to its end, by tool",
            labels=["tool"],
        )
        for tool, histogram in stats.durations.items():
            _histogram(durations, (tool,), histogram)
        yield durations
        messages = CounterMetricFamily(
            "photon_mesh_messages",
            "Messages on agents' streams, by direction (in: from agents) and kind",
            labels=["direction", "kind"],
        )
        for direction, kinds in (("in", stats.received), ("out", stats.sent)):
            for kind, count in kinds.items():
                messages.add_metric([direction, kind], count)
        yield messages
        yield _labelled(
            CounterMetricFamily(
                "photon_ai_cost_usd",
                "Dollars AI tools reported spending on tasks that ended, by tool",
                labels=["tool"],
            ),
            (((tool,), usd) for tool, usd in stats.cost_usd.items()),
        )
        yield _labelled(
            CounterMetricFamily(
                "photon_ai_tokens",
                "Tokens AI tools reported for tasks that ended, by tool and kind"
                " (input, output, cache_read, cache_creation)",
                labels=["tool", "kind"],
            ),
            stats.tokens.items(),
        )
        yield _histogram(
            HistogramMetricFamily(
                "photon_store_commit_seconds",
                "Seconds each group-commit transaction of the store took",
            ),
            (),
            stats.commits,
        )


def _labelled(family: F, values: Iterable[tuple[tuple[str, ...], float]]) -> F:
    for labels, value in values:
        family.add_metric(list(labels), value)  # type: ignore[attr-defined]
    return family


def _histogram(family: F, labels: tuple[str, ...], histogram: Histogram) -> F:
    buckets = [(_le(bound), count) for bound, count in histogram.cumulative()]
    family.add_metric(list(labels), buckets, histogram.sum)  # type: ignore[attr-defined]
    return family


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class _QuotaCollector:
    """`photon_tool_quota_blocked{tool}`: how many agents each tool is out of quota on."""

    def __init__(self, blocks: Callable[[], Iterable[QuotaBlock]]) -> None:
        self._blocks = blocks

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily  # only a registry calls this

        counts = Counter(b.tool for b in self._blocks())
        yield _labelled(
            GaugeMetricFamily(
                "photon_tool_quota_blocked",
                "Agents a tool is out of quota on, until its reset",
                labels=["tool"],
            ),
            (((tool,), count) for tool, count in sorted(counts.items())),
        )
