"""Results kept on disk until the hub acks them, so they survive restarts of either side."""

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
        """Durably store a result (fsynced before returning)."""
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(self._path(result.attempt), result.SerializeToString(), mode=0o600)

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
