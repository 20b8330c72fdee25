"""Results kept on disk until the hub acks them, so they survive restarts of either side.

Results are written without fsync: a file survives a crash or kill of the agent (the kernel
keeps it), and on a machine crash the worst case is a lost result, which the hub already
handles (the agent goes silent, the task gets a new attempt). An fsync per result would cost
more than the task itself for short tasks.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from google.protobuf.message import DecodeError

from .._fs import write_atomic
from ..v1 import mesh_pb2


class Outbox:
    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def _path(self, ref: mesh_pb2.AttemptRef) -> Path:
        return self._dir / f"{ref.task_id}.{ref.attempt}.{ref.epoch}.result"

    def put(self, result: mesh_pb2.TaskResult) -> None:
        """Store a result so that it outlives this process."""
        try:
            self._write(result)
        except FileNotFoundError:  # the first result (or the dir was removed)
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._write(result)

    def _write(self, result: mesh_pb2.TaskResult) -> None:
        write_atomic(self._path(result.attempt), result.SerializeToString(), mode=0o600, sync=False)

    def ack(self, ref: mesh_pb2.AttemptRef) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(ref).unlink()

    def pending(self) -> list[mesh_pb2.TaskResult]:
        if not self._dir.exists():
            return []
        results = []
        for path in sorted(self._dir.glob("*.result")):
            result = mesh_pb2.TaskResult()
            try:
                result.ParseFromString(path.read_bytes())
            except DecodeError:  # a torn or foreign file: set it aside, never crash on it
                path.rename(path.with_suffix(".corrupt"))
                continue
            results.append(result)
        return results
