"""A mesh stream's send queue that joins what is queued into one message: fewer, larger writes.

Each gRPC write costs far more than a small message's bytes, so a busy stream sends whatever
piled up since its last write as one envelope (`batch` in mesh.proto); the receiver unpacks it
with `unbatch`. A joined message stays well under the size limit; a large message goes alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from ..v1 import mesh_pb2
from ._grpc import MAX_MESSAGE_BYTES

JOIN_MAX_MESSAGES = 256
JOIN_MAX_BYTES = MAX_MESSAGE_BYTES // 4

M = TypeVar("M", mesh_pb2.ConnectRequest, mesh_pb2.ConnectResponse)


class Outgoing(Generic[M]):
    """FIFO of messages for one stream; `put_nowait` raises asyncio.QueueFull past `maxsize`."""

    def __init__(self, join: Callable[[list[M]], M], *, maxsize: int = 0) -> None:
        self._join: Callable[[list[M]], M] = join
        self._queue: asyncio.Queue[M] = asyncio.Queue(maxsize)
        self._held: M | None = None  # taken out for a batch it did not fit; goes next

    def put_nowait(self, message: M) -> None:
        self._queue.put_nowait(message)

    def qsize(self) -> int:
        return self._queue.qsize() + (self._held is not None)

    def clear(self) -> None:
        self._held = None
        while not self._queue.empty():
            self._queue.get_nowait()

    async def get(self) -> M:
        """The next message, or everything queued joined into one, in order."""
        first = self._held if self._held is not None else await self._queue.get()
        self._held = None
        group, size = [first], first.ByteSize()
        while len(group) < JOIN_MAX_MESSAGES and not self._queue.empty():
            message = self._queue.get_nowait()
            size += message.ByteSize()
            if size > JOIN_MAX_BYTES:
                self._held = message
                break
            group.append(message)
        return first if len(group) == 1 else self._join(group)


def joined(messages: Iterable[M], join: Callable[[list[M]], M]) -> Iterator[M]:
    """Messages to write, in order: consecutive ones joined while they fit the limits."""
    messages = list(messages)
    if len(messages) == 1:  # the common case on a quiet stream: nothing to join or measure
        yield messages[0]
        return
    group: list[M] = []
    size = 0
    for message in messages:
        length = message.ByteSize()
        if group and (len(group) >= JOIN_MAX_MESSAGES or size + length > JOIN_MAX_BYTES):
            yield group[0] if len(group) == 1 else join(group)
            group, size = [], 0
        group.append(message)
        size += length
    if group:
        yield group[0] if len(group) == 1 else join(group)


def unbatch(message: M) -> Iterator[M]:
    """The messages a received one carries, in order (itself, then its batch)."""
    if message.WhichOneof("body") is not None:
        yield message
    for joined in message.batch:
        if joined.WhichOneof("body") is not None:
            yield joined
