"""The response stream: server-sent events decoded from body bytes, and what each event of a
chat-completions stream says.

Pure: bytes and strings in, values out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ....errors import TaskFailed
from ....model import FailureClass

_MAX_LINE: Final = 8 * 1024 * 1024


class SseDecoder:
    """Turns body bytes into the data of complete server-sent events."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._data: list[str] = []

    def feed(self, piece: bytes) -> list[str]:
        """The data of the events `piece` completes; raises TaskFailed (tool_error) for a line
        longer than 8 MiB."""
        self._buffer += piece
        events: list[str] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end]).rstrip(b"\r").decode("utf-8", "replace")
            del self._buffer[: end + 1]
            self._line(line, events)
        if len(self._buffer) > _MAX_LINE:
            raise TaskFailed(
                "zai: an event-stream line is longer than 8 MiB",
                failure_class=FailureClass.TOOL_ERROR,
            )
        return events

    def close(self) -> list[str]:
        """The data of an event whose closing blank line never came (a lenient end)."""
        events: list[str] = []
        self._line("", events)
        return events

    def _line(self, line: str, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data.clear()
            return
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        # Comments (":" lines) and other fields (event, id, retry) mean nothing here.


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunk:
    """What the data of one event says; empty strings for what it leaves out."""

    done: bool = False  # the "[DONE]" sentinel
    error: bool = False  # an error object instead of a completion chunk
    model: str = ""
    reasoning: str = ""
    content: str = ""
    finish_reason: str = ""
    usage: Mapping[str, Any] | None = None  # as sent


def parse_chunk(data: str) -> Chunk | None:
    """The chunk in an event's data; None for data that is not ours to interpret (streams may
    carry keep-alives and such)."""
    if data.strip() == "[DONE]":
        return Chunk(done=True)
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    if isinstance(event.get("error"), Mapping):
        return Chunk(error=True)
    reasoning = content = finish_reason = ""
    choices = event.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    if isinstance(choice, Mapping):
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            reasoning = _text(delta.get("reasoning_content"))
            content = _text(delta.get("content"))
        finish_reason = _text(choice.get("finish_reason"))
    usage = event.get("usage")
    return Chunk(
        model=_text(event.get("model")),
        reasoning=reasoning,
        content=content,
        finish_reason=finish_reason,
        usage=usage if isinstance(usage, Mapping) else None,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
