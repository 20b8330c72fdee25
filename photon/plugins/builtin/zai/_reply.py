"""What a chat delivered and what it used: the answer and reasoning so far, the model that
answered, its token counts (Z.AI reports no price, so `cost_usd` is None), and the task's
outputs from them.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._sse import Chunk


@dataclass(slots=True, kw_only=True)
class Reply:
    """What the stream has delivered so far."""

    model: str
    reasoning: list[str] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None
    done: bool = False

    def add(self, chunk: Chunk) -> None:
        """Take in one chunk of the stream (not an error chunk)."""
        if chunk.done:
            self.done = True
            return
        if chunk.model:
            self.model = chunk.model
        if chunk.reasoning:
            self.reasoning.append(chunk.reasoning)
        if chunk.content:
            self.content.append(chunk.content)
        if chunk.finish_reason:
            self.finish_reason = chunk.finish_reason
        if chunk.usage is not None:
            self.usage = usage_counts(chunk.usage)

    def outputs(self, redact: Callable[[str], str]) -> dict[str, Any]:
        return {
            "result": redact("".join(self.content)),
            "reasoning": redact("".join(self.reasoning)),
            "model": self.model,
            "usage": dict(self.usage),
            "finish_reason": self.finish_reason,
            "cost_usd": None,
        }


def usage_counts(usage: Mapping[str, Any]) -> dict[str, int]:
    """The token counts of a `usage` object: prompt, completion, total and cached tokens."""
    counts = {
        name: value
        for name in ("prompt_tokens", "completion_tokens", "total_tokens")
        if isinstance(value := usage.get(name), int) and not isinstance(value, bool)
    }
    details = usage.get("prompt_tokens_details")
    if isinstance(details, Mapping):
        cached = details.get("cached_tokens")
        if isinstance(cached, int) and not isinstance(cached, bool):
            counts["cached_tokens"] = cached
    return counts
