"""Celery with Redis (127.0.0.1:6379) as broker and result backend; 2 `celery worker` processes.

1 slot: `--pool solo` (the worker process runs one task at a time). 64 slots: `--pool threads
--concurrency 64` (still one process). Each session uses its own queue name, so it never picks up
anyone else's work. Chains and fan-out/in use Celery's canvas (`chain`, `group`, `chord`: native).
The hub column is the Redis server's RSS (already running, shared); start-up is from
`celery worker` to answering a control ping.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from celery import Celery, chain, chord, group

from .procs import PYTHON, Daemon, rss_mb
from .workloads import WORKERS, Footprint, System

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
IDLE_SETTLE = 2.0
WAIT_TIMEOUT = 600.0

app = Celery("photon_bench")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=600,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")
def noop(*_: Any) -> None:
    return None


def redis_reachable() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_rss() -> float | None:
    import psutil

    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "redis-server":
            return rss_mb(proc.pid)
    return None


class CelerySystem(System[Any]):
    name = "celery"
    native_chain = True
    native_fan = True

    def __init__(self, *, workdir: Path) -> None:
        self._root = workdir
        self._queue = f"bench-{uuid.uuid4().hex[:12]}"
        self._workers: list[Daemon] = []
        self._names: list[str] = []

    async def start(self, *, slots: int) -> Footprint:
        if not redis_reachable():
            raise RuntimeError(f"no Redis at {REDIS_HOST}:{REDIS_PORT}")
        app.conf.update(
            broker_url=REDIS_URL, result_backend=REDIS_URL, task_default_queue=self._queue
        )
        startup = await self._start_workers(slots)
        await asyncio.sleep(IDLE_SETTLE)
        return Footprint(
            hub_rss_mb=_redis_rss(),
            agent_rss_mb=rss_mb(self._workers[0].pid),
            startup_s=startup,
        )

    async def _start_workers(self, slots: int) -> float:
        pool = (
            ["--pool", "solo"] if slots == 1 else ["--pool", "threads", "--concurrency", str(slots)]
        )
        t0 = time.monotonic()
        self._names = [f"w{i}-{slots}@{self._queue}" for i in range(WORKERS)]
        self._workers = [
            Daemon(
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "bench.celery_system",
                    "-b",
                    REDIS_URL,
                    "--result-backend",
                    REDIS_URL,
                    "worker",
                    "-Q",
                    self._queue,
                    "-n",
                    name,
                    *pool,
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-l",
                    "WARNING",
                ],
                self._root / f"{name.split('@')[0]}.log",
            ).start()
            for name in self._names
        ]
        deadline = time.monotonic() + 60
        waiting = set(self._names)
        while waiting:
            for worker in self._workers:
                if not worker.running:
                    raise RuntimeError(f"celery worker exited:\n{worker.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError("celery workers did not answer a ping within 60 s")
            replies = app.control.ping(destination=sorted(waiting), timeout=0.05)
            for reply in replies:
                waiting.difference_update(reply)
        return time.monotonic() - t0

    async def resize(self, *, slots: int) -> None:
        for worker in self._workers:
            await asyncio.to_thread(worker.stop)
        await self._start_workers(slots)

    async def stop(self) -> None:
        for worker in self._workers:
            await asyncio.to_thread(worker.stop)
        self._workers = []
        if redis_reachable():
            with app.connection_for_write() as connection:
                connection.default_channel.client.delete(self._queue)

    def _sig(self, *args: Any) -> Any:
        # Every signature names the queue: chain and chord steps are sent by the workers.
        return noop.s(*args).set(queue=self._queue)

    async def submit(self) -> Any:
        return noop.apply_async(queue=self._queue)

    async def submit_many(self, n: int) -> list[Any]:
        return [group(self._sig() for _ in range(n)).apply_async()]

    async def wait(self, handle: Any) -> None:
        handle.get(timeout=WAIT_TIMEOUT)

    async def wait_many(self, handles: Sequence[Any]) -> None:
        for handle in handles:
            handle.get(timeout=WAIT_TIMEOUT)

    async def chain(self, n: int) -> None:
        chain(*(self._sig() for _ in range(n))).apply_async().get(timeout=WAIT_TIMEOUT)

    async def fan_out_in(self, n: int) -> None:
        fan = chain(self._sig(), chord((self._sig() for _ in range(n)), self._sig()))
        fan.apply_async().get(timeout=WAIT_TIMEOUT)
