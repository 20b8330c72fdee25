"""Just enough HTTP/1.1 for one chat request: the request's bytes, and the response body as raw
pieces whatever its framing (chunked, Content-Length, or until the peer closes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Final

from .... import __version__
from ._endpoint import Endpoint

_READ_CHUNK: Final = 64 * 1024


def encode_request(endpoint: Endpoint, key: str, body: Mapping[str, Any]) -> bytes:
    """The POST of `body` as JSON, on a connection of its own (`Connection: close`)."""
    payload = json.dumps(body, ensure_ascii=False).encode()
    head = (
        f"POST {endpoint.path} HTTP/1.1\r\n"
        f"Host: {endpoint.netloc}\r\n"
        f"Authorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: text/event-stream\r\n"
        f"User-Agent: photon-zai/{__version__}\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + payload


class Body:
    """A response body as raw pieces: chunked, Content-Length or read until the peer closes.

    A body cut short just ends; the stream decoder above decides whether that was complete.
    """

    def __init__(self, reader: asyncio.StreamReader, headers: Mapping[str, str]) -> None:
        self._reader = reader
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length", "")
        self._remaining = int(length) if length.isdigit() and not self._chunked else None
        self._chunk_left = 0
        self._ended = False

    async def read(self) -> bytes:
        """The next piece of the body; b"" at its end."""
        if self._ended:
            return b""
        try:
            piece = await self._next()
        except asyncio.IncompleteReadError as exc:
            piece = exc.partial
            self._ended = True
        if not piece:
            self._ended = True
        return piece

    async def _next(self) -> bytes:
        if not self._chunked:
            if self._remaining is None:
                return await self._reader.read(_READ_CHUNK)
            piece = await self._reader.read(min(self._remaining, _READ_CHUNK))
            self._remaining -= len(piece)
            return piece
        if self._chunk_left == 0:
            size_line = await self._reader.readline()
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return b""  # the connection closed (or garbage): the body is over
            if size == 0:
                return b""
            self._chunk_left = size
        piece = await self._reader.read(min(self._chunk_left, _READ_CHUNK))
        self._chunk_left -= len(piece)
        if self._chunk_left == 0 and piece:
            try:
                await self._reader.readexactly(2)  # the CRLF after the chunk
            except asyncio.IncompleteReadError:
                self._ended = True
        return piece
