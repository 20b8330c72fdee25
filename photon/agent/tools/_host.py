"""The host's load for heartbeats (psutil): CPU, memory, load average, disk, free slots."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from ...model import AgentMetrics


def collect_metrics(*, disk_path: Path, running: int, slots: int) -> AgentMetrics:
    """This host's load now; `disk_path` names the disk to report (the data dir's)."""
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(disk_path))
    load1, load5, load15 = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return AgentMetrics(
        # Non-blocking: the share of CPU used since the previous call.
        cpu_percent=psutil.cpu_percent(interval=None),
        memory_percent=memory.percent,
        memory_used_bytes=memory.used,
        memory_total_bytes=memory.total,
        load1=load1,
        load5=load5,
        load15=load15,
        disk_percent=disk.percent,
        disk_free_bytes=disk.free,
        running_tasks=running,
        free_slots=max(slots - running, 0),
    )
