"""The workloads, written once against a small interface every system implements.

A system offers submit-one / submit-many / wait for a no-op task; chains and fan-out/in default to
"submit each step after the previous result" and a system may override them with its native
dependency mechanism (Ray object refs, Dask futures, Celery canvas), which the table marks.
"""

from __future__ import annotations

import abc
import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

H = TypeVar("H")

WORKERS = 2
WIDE_SLOTS = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    latency: int = 2_000  # W1: sequential no-ops
    throughput: int = 20_000  # W2: no-ops submitted at once
    chain: int = 1_000  # W3: links
    fan: int = 1_000  # W4: width of 1 -> N -> 1
    warmup: int = 50


FULL = Sizes()
QUICK = Sizes(latency=200, throughput=2_000, chain=100, fan=100, warmup=20)


@dataclass(frozen=True, slots=True, kw_only=True)
class Budgets:
    """Seconds each phase may take before it is reported as a timeout."""

    start: float = 120.0
    latency: float = 120.0
    throughput: float = 600.0
    chain: float = 90.0
    fan: float = 90.0
    resize: float = 90.0

    @property
    def total(self) -> float:
        """What a whole session may take, stopping included."""
        return (
            self.start
            + self.latency
            + 2 * self.throughput
            + self.chain
            + self.fan
            + self.resize
            + 90.0
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Footprint:
    hub_rss_mb: float | None
    agent_rss_mb: float | None
    startup_s: float | None


class System(abc.ABC, Generic[H]):
    """One system under test: a coordinator plus 2 worker processes, driven from this process."""

    name: ClassVar[str]
    native_chain: ClassVar[bool] = False
    native_fan: ClassVar[bool] = False

    @abc.abstractmethod
    async def start(self, *, slots: int) -> Footprint:
        """Start the coordinator and 2 workers of `slots` each; measure them once idle."""

    @abc.abstractmethod
    async def resize(self, *, slots: int) -> None:
        """Make the 2 workers offer `slots` each (restart them, or switch to a wider pool)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop everything started; safe to call twice or before start."""

    @abc.abstractmethod
    async def submit(self) -> H:
        """Submit one no-op; return once the system has accepted it."""

    @abc.abstractmethod
    async def wait(self, handle: H) -> None:
        """Return when the task has finished (raise if it failed)."""

    async def run_one(self) -> None:
        """Submit one no-op and wait for its result, the system's quickest way."""
        await self.wait(await self.submit())

    async def submit_many(self, n: int) -> list[H]:
        """Submit n no-ops at once."""
        return list(await asyncio.gather(*(self.submit() for _ in range(n))))

    async def wait_many(self, handles: Sequence[H]) -> None:
        await asyncio.gather(*(self.wait(h) for h in handles))

    async def chain(self, n: int) -> None:
        """n tasks, each needing the previous one."""
        for _ in range(n):
            await self.run_one()

    async def fan_out_in(self, n: int) -> None:
        """1 -> n -> 1."""
        await self.run_one()
        await self.wait_many(await self.submit_many(n))
        await self.run_one()


Report = Callable[[str, Any], None]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def _within(seconds: float, what: str, work: Awaitable[Any]) -> Any:
    try:
        async with asyncio.timeout(seconds):
            return await work
    except TimeoutError:
        raise PhaseTimeout(what) from None


class PhaseTimeout(Exception):
    """A phase did not finish within its budget."""


async def warm_up(system: System[Any], sizes: Sizes) -> None:
    """A short unmeasured run of sequential and concurrent no-ops."""
    for _ in range(sizes.warmup):
        await system.run_one()
    await system.wait_many(await system.submit_many(sizes.warmup * 4))


async def w1_latencies(system: System[Any], n: int) -> list[float]:
    """W1: n sequential no-ops, each timed from submit to its result; seconds, sorted."""
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        await system.run_one()
        samples.append(time.perf_counter() - t0)
    return sorted(samples)


async def run_workloads(
    system: System[Any], sizes: Sizes, budgets: Budgets, report: Report
) -> None:
    """Start the system, run W1, W3, W4, W2 (1 slot), then W2 with 64 slots; report each result.

    Raises PhaseTimeout when a phase overruns; what was measured before it is already reported.
    """
    footprint = await _within(budgets.start, "start", system.start(slots=1))
    report("hub_rss_mb", footprint.hub_rss_mb)
    report("agent_rss_mb", footprint.agent_rss_mb)
    report("startup_s", footprint.startup_s)
    await _within(budgets.latency, "warm-up", warm_up(system, sizes))
    samples = await _within(budgets.latency, "w1", w1_latencies(system, sizes.latency))
    report("w1_p50_ms", percentile(samples, 50) * 1e3)
    report("w1_p99_ms", percentile(samples, 99) * 1e3)

    t0 = time.perf_counter()
    await _within(budgets.chain, "w3", system.chain(sizes.chain))
    report("w3_ms_per_link", (time.perf_counter() - t0) / sizes.chain * 1e3)

    t0 = time.perf_counter()
    await _within(budgets.fan, "w4", system.fan_out_in(sizes.fan))
    report("w4_s", time.perf_counter() - t0)

    async def throughput() -> float:
        t0 = time.perf_counter()
        await system.wait_many(await system.submit_many(sizes.throughput))
        return sizes.throughput / (time.perf_counter() - t0)

    report("w2_1slot_per_s", await _within(budgets.throughput, "w2 (1 slot)", throughput()))

    await _within(budgets.resize, "resize", system.resize(slots=WIDE_SLOTS))
    await _within(budgets.resize, "warm-up", warm_up(system, sizes))
    report("w2_64slot_per_s", await _within(budgets.throughput, "w2 (64 slots)", throughput()))


METRICS = (
    "w1_p50_ms",
    "w1_p99_ms",
    "w2_1slot_per_s",
    "w2_64slot_per_s",
    "w3_ms_per_link",
    "w4_s",
    "hub_rss_mb",
    "agent_rss_mb",
    "startup_s",
)
