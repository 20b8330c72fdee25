"""Dask distributed: `dask scheduler` and 2 `dask worker` processes (no nanny), async client.

Workers run `--nthreads 1` (1 slot), then `--nthreads 64`. Without a nanny each worker is one
process, like a PHOTON agent. Chains and fan-out/in use futures as dependencies (native).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .procs import PYTHON, Daemon, rss_mb, wait_until
from .workloads import WORKERS, Footprint, System

IDLE_SETTLE = 2.0


def noop(*_: Any) -> None:
    return None


class DaskSystem(System[Any]):
    name = "dask"
    native_chain = True
    native_fan = True

    def __init__(self, *, workdir: Path) -> None:
        self._root = workdir
        self._scheduler_file = workdir / "scheduler.json"
        self._scheduler: Daemon | None = None
        self._workers: list[Daemon] = []
        self._client: Any = None

    async def start(self, *, slots: int) -> Footprint:
        from distributed import Client

        self._scheduler = Daemon(
            [
                PYTHON,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(self._scheduler_file),
            ],
            self._root / "scheduler.log",
        ).start()
        await wait_until(
            lambda: self._scheduler_file.exists() or not self._scheduler.running,  # type: ignore[union-attr]
            within=60,
            what="dask scheduler",
        )
        if not self._scheduler_file.exists():
            raise RuntimeError(f"dask scheduler did not start:\n{self._scheduler.tail()}")
        self._client = await Client(
            scheduler_file=str(self._scheduler_file), asynchronous=True, timeout=30
        )
        startup = await self._start_workers(slots)
        await asyncio.sleep(IDLE_SETTLE)
        return Footprint(
            hub_rss_mb=rss_mb(self._scheduler.pid),
            agent_rss_mb=rss_mb(self._workers[0].pid),
            startup_s=startup,
        )

    async def _start_workers(self, slots: int) -> float:
        t0 = time.monotonic()
        self._workers = [
            Daemon(
                [
                    PYTHON,
                    "-m",
                    "distributed.cli.dask_worker",
                    "--scheduler-file",
                    str(self._scheduler_file),
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    str(slots),
                    "--nworkers",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--memory-limit",
                    "0",
                    "--name",
                    f"w{i}-{slots}",
                ],
                self._root / f"worker-{i}.{slots}.log",
            ).start()
            for i in range(WORKERS)
        ]

        async def connected() -> bool:
            for worker in self._workers:
                if not worker.running:
                    raise RuntimeError(f"dask worker exited:\n{worker.tail()}")
            info = await self._client.scheduler.identity()
            threads = [w["nthreads"] for w in info["workers"].values()]
            return threads == [slots] * WORKERS

        await wait_until(connected, within=60, interval=0.005, what="dask workers connected")
        return time.monotonic() - t0

    async def resize(self, *, slots: int) -> None:
        for worker in self._workers:
            await asyncio.to_thread(worker.stop)

        async def gone() -> bool:
            info = await self._client.scheduler.identity()
            return not info["workers"]

        await wait_until(gone, within=60, interval=0.05, what="dask workers gone")
        await self._start_workers(slots)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        for proc in [*self._workers, *([self._scheduler] if self._scheduler else [])]:
            await asyncio.to_thread(proc.stop)

    async def submit(self) -> Any:
        return self._client.submit(noop, pure=False)

    async def submit_many(self, n: int) -> list[Any]:
        return list(self._client.map(noop, range(n), pure=False))

    async def wait(self, handle: Any) -> None:
        await handle

    async def wait_many(self, handles: Sequence[Any]) -> None:
        await self._client.gather(list(handles))

    async def chain(self, n: int) -> None:
        future = self._client.submit(noop, pure=False)
        for _ in range(n - 1):
            future = self._client.submit(noop, future, pure=False)
        await future

    async def fan_out_in(self, n: int) -> None:
        first = self._client.submit(noop, pure=False)
        middle = [self._client.submit(noop, first, i, pure=False) for i in range(n)]
        last = self._client.submit(noop, *middle, pure=False)
        await last
