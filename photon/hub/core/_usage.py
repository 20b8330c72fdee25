"""What an AI tool's run cost, read from the outputs its task ended with.

The AI adapters end with `cost_usd` (dollars, or None when the tool reports none) and `usage`
(token counts under the tools' own names). Outputs come from agents, so anything that is not a
finite, non-negative number counts as nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The tools' names for token counts and the kind each is counted as (`total_tokens` is a sum
# of these, so it counts as none).
TOKEN_KINDS: Mapping[str, str] = {
    "input_tokens": "input",
    "output_tokens": "output",
    "cache_read_input_tokens": "cache_read",
    "cached_input_tokens": "cache_read",  # Codex's name for it
    "cache_creation_input_tokens": "cache_creation",
    "cache_write_input_tokens": "cache_creation",  # Codex's name for it
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """One task's spend: dollars, and tokens of each kind."""

    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0

    @property
    def empty(self) -> bool:
        return self == NO_USAGE

    def tokens(self) -> dict[str, int]:
        """The token counts by kind (input, output, cache_read, cache_creation)."""
        return {
            "input": self.input_tokens,
            "output": self.output_tokens,
            "cache_read": self.cache_read_tokens,
            "cache_creation": self.cache_creation_tokens,
        }


NO_USAGE = Usage()


def usage_of(outputs: Mapping[str, Any] | None) -> Usage:
    """The spend a task's outputs report (NO_USAGE when they report none)."""
    if not outputs:
        return NO_USAGE
    cost = outputs.get("cost_usd")
    usage = outputs.get("usage")
    counts = usage if isinstance(usage, Mapping) else {}
    if not _amount(cost) and not any(_count(counts.get(k)) for k in TOKEN_KINDS):
        return NO_USAGE
    return Usage(
        cost_usd=_amount(cost),
        input_tokens=_count(counts.get("input_tokens")),
        output_tokens=_count(counts.get("output_tokens")),
        cache_read_tokens=_count(counts.get("cache_read_input_tokens"))
        + _count(counts.get("cached_input_tokens")),
        cache_creation_tokens=_count(counts.get("cache_creation_input_tokens"))
        + _count(counts.get("cache_write_input_tokens")),
    )


def _amount(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    number = float(value)
    return number if math.isfinite(number) and number > 0 else 0.0


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value if value > 0 else 0
