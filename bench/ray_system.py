"""Ray: a local head node (`ray.init(num_cpus=2)`) whose 2 worker processes run 1 task each.

1 slot per worker is Ray's own model: `num_cpus=2` and tasks of 1 CPU keep 2 worker processes
busy. Ray has no "one process, 64 slots" for plain tasks (more slots means more processes), so the
64-slot run uses 2 async actors with `max_concurrency=64` instead. Chains and fan-out/in pass
object refs as arguments (native). The head node's GCS and raylet together count as the hub;
an idle worker process counts as the agent; start-up is `ray.init()` until both workers have
run a task.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .procs import child_env, rss_mb
from .workloads import WORKERS, Footprint, System

IDLE_SETTLE = 2.0
WAIT_TIMEOUT = 600.0
HUB_PROCESSES = ("gcs_server", "raylet")


def _noop(*_: Any) -> None:
    return None


class _Wide:
    async def noop(self, *_: Any) -> None:
        return None


class RaySystem(System[Any]):
    name = "ray"
    native_chain = True
    native_fan = True

    def __init__(self, *, workdir: Path) -> None:
        self._root = workdir
        self._ray: Any = None
        self._task: Any = None
        self._actors: list[Any] = []
        self._turn = itertools.count()

    async def start(self, *, slots: int) -> Footprint:
        import psutil

        # Workers inherit this environment: make the bench package importable there too.
        os.environ["PYTHONPATH"] = child_env()["PYTHONPATH"]
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray

        self._ray = ray
        t0 = time.monotonic()
        ray.init(
            num_cpus=WORKERS * slots,
            include_dashboard=False,
            logging_level="ERROR",
            log_to_driver=False,
            object_store_memory=200 * 1024 * 1024,
            _temp_dir=str(self._root / "ray"),
        )
        self._task = ray.remote(num_cpus=1)(_noop)
        # Both worker processes up and able to run a task.
        ray.get([self._task.remote() for _ in range(WORKERS * 4)], timeout=WAIT_TIMEOUT)
        startup = time.monotonic() - t0
        await asyncio.sleep(IDLE_SETTLE)
        hub, agent = 0.0, None
        for proc in psutil.Process().children(recursive=True):
            try:
                name, cmdline = proc.name(), " ".join(proc.cmdline())
            except psutil.Error:
                continue
            if name in HUB_PROCESSES:
                hub += rss_mb(proc.pid) or 0.0
            elif "default_worker.py" in cmdline or name.startswith("ray::"):
                size = rss_mb(proc.pid)
                if size is not None and (agent is None or size > agent):
                    agent = size
        return Footprint(hub_rss_mb=hub or None, agent_rss_mb=agent, startup_s=startup)

    async def resize(self, *, slots: int) -> None:
        ray = self._ray
        wide = ray.remote(num_cpus=0, max_concurrency=slots)(_Wide)
        self._actors = [wide.remote() for _ in range(WORKERS)]
        ray.get([a.noop.remote() for a in self._actors], timeout=WAIT_TIMEOUT)

    async def stop(self) -> None:
        if self._ray is not None:
            self._actors = []
            self._ray.shutdown()
            self._ray = None

    async def submit(self) -> Any:
        if self._actors:
            return self._actors[next(self._turn) % WORKERS].noop.remote()
        return self._task.remote()

    async def submit_many(self, n: int) -> list[Any]:
        if self._actors:
            return [self._actors[i % WORKERS].noop.remote() for i in range(n)]
        return [self._task.remote() for _ in range(n)]

    async def wait(self, handle: Any) -> None:
        self._ray.get(handle, timeout=WAIT_TIMEOUT)

    async def wait_many(self, handles: Sequence[Any]) -> None:
        self._ray.get(list(handles), timeout=WAIT_TIMEOUT)

    async def chain(self, n: int) -> None:
        ref = self._task.remote()
        for _ in range(n - 1):
            ref = self._task.remote(ref)
        self._ray.get(ref, timeout=WAIT_TIMEOUT)

    async def fan_out_in(self, n: int) -> None:
        first = self._task.remote()
        middle = [self._task.remote(first) for _ in range(n)]
        self._ray.get(self._task.remote(*middle), timeout=WAIT_TIMEOUT)
