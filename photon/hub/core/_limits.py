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

from ..._bounds import (
    MAX_DOCUMENT_BYTES,
    MAX_HOSTNAME_LENGTH,
    MAX_JSON_DEPTH,
    MAX_LABELS,
    MAX_NAME_LENGTH,
    MAX_QUOTE,
    MAX_SELECTOR_LENGTH,
    JsonBounds,
    exceeds,
)
from ..._text import shorten
from ...errors import ConfigError, InvalidArgumentError

KIB = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    # Anything parsed: a task's inputs, a workflow document, an event's data, a result's
    # outputs. The defaults are photonctl's fixed bounds (photon/_bounds.py).
    max_input_depth: int = MAX_JSON_DEPTH  # nesting of lists and objects
    max_input_bytes: int = MAX_DOCUMENT_BYTES  # a task's inputs as JSON
    max_workflow_bytes: int = MAX_DOCUMENT_BYTES  # a workflow document as JSON
    # An agent's result: larger outputs are kept as a short marker saying so.
    max_output_bytes: int = MAX_DOCUMENT_BYTES
    # An action's input schema, as an agent reports it: a larger one refuses the agent.
    max_schema_bytes: int = 64 * KIB
    # Names and labels: agents', tasks', workflows'; an agent's hostname.
    max_name_length: int = MAX_NAME_LENGTH
    max_labels: int = MAX_LABELS
    max_selector_length: int = MAX_SELECTOR_LENGTH
    max_hostname_length: int = MAX_HOSTNAME_LENGTH
    # Workflows.
    max_workflow_steps: int = 1000
    max_expression_length: int = 256  # inside one ${{ }}
    max_fan_out: int = 10_000  # tasks one step may fan out to
    # Calls.
    max_batch: int = 10_000  # tasks per SubmitTasks or WaitTasks call
    max_list: int = 10_000  # records per list call (tasks, workflows)
    # Agents' progress events: more are dropped, counted, and the task says so.
    max_events_per_task: int = 10_000
    max_event_bytes: int = 16 * KIB  # one event's message and data; a failure's message
    max_agent_events_per_second: int = 1000  # all of one agent's tasks together
    # A secret's value, as SetSecret is given it.
    max_secret_bytes: int = 64 * KIB
    # Credentials tried by one peer (an IP address), at Login and at Join each: attempts a
    # second, and failed ones a minute before a minute's lockout.
    max_auth_attempts_per_second: int = 20
    max_auth_failures_per_minute: int = 10
    # Errors quote at most this much of what they were given.
    max_quote: int = MAX_QUOTE

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
            raise InvalidArgumentError(exceeds(what, name.replace("_", "-"), value, limit))

    def list_size(self, requested: int) -> int:
        """How many records a list call returns: 100 unless it asks (a negative count is
        refused), at most max-list."""
        if requested < 0:
            raise InvalidArgumentError(f"limit must not be negative (got {requested})")
        self.check("max_list", requested, "limit")
        return requested or 100

    @property
    def inputs(self) -> JsonBounds:
        """A task's or a workflow's inputs."""
        return JsonBounds(max_depth=self.max_input_depth, max_bytes=self.max_input_bytes)

    @property
    def workflow(self) -> JsonBounds:
        """A workflow document."""
        return JsonBounds(
            max_depth=self.max_input_depth,
            max_bytes=self.max_workflow_bytes,
            bytes_limit="max-workflow-bytes",
        )

    @property
    def event_data(self) -> JsonBounds:
        """The data of an agent's progress event."""
        return JsonBounds(
            max_depth=self.max_input_depth,
            max_bytes=self.max_event_bytes,
            bytes_limit="max-event-bytes",
        )

    @property
    def outputs(self) -> JsonBounds:
        """The outputs of an agent's result."""
        return JsonBounds(
            max_depth=self.max_input_depth,
            max_bytes=self.max_output_bytes,
            bytes_limit="max-output-bytes",
        )

    @property
    def schema(self) -> JsonBounds:
        """An action's input schema, as an agent reports it."""
        return JsonBounds(
            max_depth=self.max_input_depth,
            max_bytes=self.max_schema_bytes,
            bytes_limit="max-schema-bytes",
        )


def quote(text: str, limits: Limits | None = None) -> str:
    """`text` as an error may quote it: cut to `max_quote` characters."""
    return shorten(text, (limits or DEFAULT_LIMITS).max_quote)


DEFAULT_LIMITS = Limits()
