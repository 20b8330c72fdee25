"""Processes the benchmarks start: daemons with a log file, their RSS, and the leftover sweep.

Every process a benchmark session starts inherits `BENCH_TAG` in its environment, so the
orchestrator can find and end whatever a crashed or killed session left behind (even processes
that moved to their own session) without touching anything it did not start.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parent.parent
TAG_VARIABLE = "BENCH_TAG"


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without PHOTON_* settings, with the project importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTON_")}
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Daemon:
    """A long-running process whose output goes to a log file."""

    args: Sequence[str]
    log: Path
    env: Mapping[str, str] = field(default_factory=child_env)
    cwd: Path = ROOT
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> Daemon:
        with self.log.open("ab") as handle:
            self.started_at = time.monotonic()
            self.popen = subprocess.Popen(
                list(self.args),
                env=dict(self.env),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; safe to call twice or before start."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def rss_mb(pid: int) -> float | None:
    """Resident set size of one process in MB (10^6 bytes), None if it is gone."""
    import psutil  # here, not at the top: the floor's own processes import this module

    try:
        return psutil.Process(pid).memory_info().rss / 1e6
    except psutil.Error:
        return None


async def wait_until(
    predicate: Callable[[], object], *, within: float, interval: float = 0.01, what: str
) -> None:
    """Poll a plain or async predicate; raises TimeoutError naming `what`."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {within:.0f} s")
        await asyncio.sleep(interval)


def tagged(tag: str) -> list[psutil.Process]:
    """Processes (other than this one) whose environment carries BENCH_TAG=`tag`."""
    import psutil

    found = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(TAG_VARIABLE) == tag:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def sweep(tag: str, grace: float = 5.0) -> int:
    """End every process carrying `tag`: SIGTERM, then SIGKILL; returns how many there were."""
    import psutil

    procs = tagged(tag)
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace)
    return len(procs)
