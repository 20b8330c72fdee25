"""Results kept on disk until the hub acks them, so they survive restarts of either side.

One append-only journal, `outbox.log`: each result is a record, and so is its ack; a result
with no ack is pending. An append costs about a microsecond, where a file per result cost about
half a millisecond to create here, more than running a short task. Records are written without
fsync: they survive a crash or kill of the agent (the kernel has them); after a crash of the
machine the worst case is a lost result, which the hub already handles (the agent went silent,
so the task gets a new attempt). The journal is rewritten with only the pending results when it
is opened, and emptied when nothing is pending and it has grown.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from google.protobuf.message import DecodeError

from ..._fs import write_atomic
from ...v1 import mesh_pb2

log = logging.getLogger(__name__)

RESULT, ACK = b"R", b"A"
_HEADER = 5  # kind, then the payload's length (4 bytes, big-endian)
EMPTY_AT = 1 << 20  # bytes; the journal is emptied once this big with nothing pending
REWRITE_AT = 64 << 20  # bytes; rewritten to the pending results once this big

_Key = tuple[str, int, int]


def _key(ref: mesh_pb2.AttemptRef) -> _Key:
    return ref.task_id, ref.attempt, ref.epoch


def _record(kind: bytes, payload: bytes) -> bytes:
    return kind + len(payload).to_bytes(4, "big") + payload


class Outbox:
    def __init__(self, directory: Path) -> None:
        self._path = directory / "outbox.log"
        self._fd: int | None = None
        self._size = 0
        self._pending: dict[_Key, mesh_pb2.TaskResult] = {}

    def put(self, result: mesh_pb2.TaskResult) -> None:
        """Keep a result until it is acked; it outlives this process."""
        self._open()
        self._pending[_key(result.attempt)] = result
        self._append(_record(RESULT, result.SerializeToString()))

    def ack(self, ref: mesh_pb2.AttemptRef) -> None:
        self._open()
        if self._pending.pop(_key(ref), None) is None:
            return
        self._append(_record(ACK, ref.SerializeToString()))
        if not self._pending and self._size >= EMPTY_AT:
            assert self._fd is not None
            os.ftruncate(self._fd, 0)  # appends go on at the new end
            self._size = 0
        elif self._size >= REWRITE_AT:
            self._rewrite()

    def pending(self) -> list[mesh_pb2.TaskResult]:
        """The results not acked yet, oldest first."""
        self._open()
        return list(self._pending.values())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._size += len(data)

    def _open(self) -> None:
        if self._fd is not None:
            return
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self._pending = _replay(self._path.read_bytes())
        except FileNotFoundError:
            self._pending = {}
        self._rewrite()

    def _rewrite(self) -> None:
        """Replace the journal with the pending results alone."""
        data = b"".join(_record(RESULT, r.SerializeToString()) for r in self._pending.values())
        write_atomic(self._path, data, mode=0o600, sync=False)
        self.close()
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND)
        self._size = len(data)


def _replay(journal: bytes) -> dict[_Key, mesh_pb2.TaskResult]:
    """The pending results a journal holds. A torn or foreign tail (a machine crash in the
    middle of an append) is dropped with a warning, never fatal."""
    pending: dict[_Key, mesh_pb2.TaskResult] = {}
    pos = 0
    while pos < len(journal):
        kind, size = journal[pos : pos + 1], int.from_bytes(journal[pos + 1 : pos + _HEADER], "big")
        payload = journal[pos + _HEADER : pos + _HEADER + size]
        try:
            if len(payload) != size or kind not in (RESULT, ACK):
                raise DecodeError("truncated record")
            if kind == RESULT:
                result = mesh_pb2.TaskResult.FromString(payload)
                pending[_key(result.attempt)] = result
            else:
                pending.pop(_key(mesh_pb2.AttemptRef.FromString(payload)), None)
        except DecodeError:
            log.warning(
                "outbox journal: dropping a damaged tail at byte %d of %d", pos, len(journal)
            )
            break
        pos += _HEADER + size
    return pending
