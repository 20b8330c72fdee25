"""The hub's limits on what one client or agent may send it, in one place.

Each has a default and can be set in the hub's config file (`[limits]`, dashed names). The edge
that parses a request enforces the size and depth limits, the part that understands it the
others; a request over a limit is refused with an error that names the limit, and an agent's
progress events past a cap are dropped and counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError, InvalidArgumentError

KIB = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    # Anything parsed: a task's inputs, a workflow document, an event's data.
    max_input_depth: int = 32  # nesting of lists and objects
    max_input_bytes: int = 1024 * KIB  # a task's inputs as JSON
    max_workflow_bytes: int = 1024 * KIB  # a workflow document as JSON
    # Names and labels: agents', tasks', workflows'.
    max_name_length: int = 63
    max_labels: int = 64
    max_selector_length: int = 1024
    # Workflows.
    max_workflow_steps: int = 1000
    max_expression_length: int = 256  # inside one ${{ }}
    max_fan_out: int = 10_000  # tasks one step may fan out to
    # Calls.
    max_batch: int = 10_000  # tasks per SubmitTasks or WaitTasks call
    # Agents' progress events: more are dropped, counted, and the task says so.
    max_events_per_task: int = 10_000
    max_event_bytes: int = 16 * KIB  # one event's message and data
    max_agent_events_per_second: int = 1000  # all of one agent's tasks together
    # Errors quote at most this much of what they were given.
    max_quote: int = 200

    @classmethod
    def from_config(cls, table: Mapping[str, Any], *, where: str) -> Limits:
        """The limits a config table sets (dashed or underscored names; other defaults stay).
        Raises ConfigError naming the key."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, int] = {}
        for key, value in table.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(f"{where}: unknown limit {key!r}")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{where}: {key} must be a whole number of at least 1")
            values[name] = value
        return cls(**values)

    def check(self, name: str, value: int, what: str) -> None:
        """Raise InvalidArgumentError naming the limit when `value` is over it."""
        limit = getattr(self, name)
        if value > limit:
            raise InvalidArgumentError(
                f"{what} exceeds the limit {name.replace('_', '-')} ({value} > {limit})"
            )


def quote(text: str, limits: Limits | None = None) -> str:
    """`text` as an error may quote it: cut to `max_quote` characters."""
    most = (limits or DEFAULT_LIMITS).max_quote
    return text if len(text) <= most else f"{text[:most]}... ({len(text)} characters)"


DEFAULT_LIMITS = Limits()
