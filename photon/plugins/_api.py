"""The plugin contract: what a tool adapter implements and what the agent hands it for one task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

PLUGIN_API_VERSION: Final[int] = 1
"""The contract version this agent implements; a plugin declaring another one is not loaded."""

_MASK: Final = "***"


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One thing a plugin can do, e.g. `run` for shell or `prompt` for an AI tool."""

    name: str
    description: str = ""
    # A JSON Schema (draft 2020-12) for the inputs; the hub rejects a submission that fails it,
    # naming the field. Empty: anything goes.
    input_schema: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """Whether a plugin's tool is usable on this host, and which version was found."""

    available: bool
    version: str = ""
    detail: str = ""


class TaskContext(Protocol):
    """What a plugin gets for one task attempt; read-only apart from `emit`."""

    @property
    def task_id(self) -> str: ...

    @property
    def action(self) -> str: ...

    @property
    def inputs(self) -> Mapping[str, Any]: ...

    @property
    def workdir(self) -> Path: ...

    @property
    def secrets(self) -> Mapping[str, str]:
        """The values of the secrets the task references, by secret name."""
        ...

    @property
    def env(self) -> Mapping[str, str]:
        """The task's `env`, each `secret:NAME` replaced by the secret's value: a plugin that
        starts a process puts these in its environment."""
        ...

    @property
    def settings(self) -> Mapping[str, Any]:
        """This tool's section of the agent config."""
        ...

    @property
    def deadline(self) -> float | None:
        """When the attempt times out, as a `time.monotonic()` value; None for no limit."""
        ...

    @property
    def cancelled(self) -> asyncio.Event:
        """Set when the task is cancelled: stop, and raise TaskFailed(CANCELLED)."""
        ...

    def emit(self, kind: str, message: str = "", /, **data: Any) -> None:
        """Record a progress event, in order.

        Kinds: "log", "tool_call", "usage", "cost", "status". Secret values are masked.
        """
        ...

    def mask(self, value: Any) -> Any:
        """`value` with every secret value in its strings (nested too) replaced by "***"."""
        ...


class Plugin(Protocol):
    """A tool adapter, registered in the `photon.plugins` entry-point group.

    The entry point names a class (or factory) that is called with no arguments at agent start.
    """

    @property
    def name(self) -> str:
        """The tool name tasks use; must equal the entry-point name."""
        ...

    @property
    def version(self) -> str: ...

    @property
    def api_version(self) -> int:
        """The PLUGIN_API_VERSION the plugin was written against."""
        ...

    @property
    def actions(self) -> Sequence[Action]: ...

    @property
    def default_action(self) -> str:
        """The action used when a task leaves `action` out; one of `actions`."""
        ...

    @property
    def enabled_by_default(self) -> bool: ...

    async def detect(self) -> Detection:
        """Report whether the tool is usable on this host (binary on PATH, API key present...).

        A plugin may declare a keyword `settings` here to receive its agent settings.
        """
        ...

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        """Run one task attempt and return its outputs (a JSON-serialisable mapping).

        Raises TaskFailed with a failure class for a classified failure; any other exception
        fails the task as `tool_error`. On cancellation (`ctx.cancelled` set, or the coroutine
        cancelled) stop promptly; child processes must not outlive the call.
        """
        ...


EventSink = Callable[[str, str, dict[str, Any]], None]
"""Receives (kind, message, data) for each event a plugin emits."""


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SimpleTaskContext:
    """A plain TaskContext: the agent builds one per attempt, tests build their own.

    `emit` replaces every non-empty secret value with "***" in the message and in the strings of
    `data` (nested too) before calling `on_event`; `mask` does the same to any value (the agent
    masks outputs and failure messages with it). `cancelled` is a fresh, unset event.
    """

    task_id: str
    action: str
    inputs: Mapping[str, Any]
    workdir: Path
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)
    deadline: float | None = None
    on_event: EventSink = field(repr=False)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def emit(self, kind: str, message: str = "", /, **data: Any) -> None:
        values = _masked_values(self.secrets)
        self.on_event(kind, _mask(message, values), {k: _mask(v, values) for k, v in data.items()})

    def mask(self, value: Any) -> Any:
        """`value` with every secret value in its strings (nested too) replaced by "***"."""
        return _mask(value, _masked_values(self.secrets))


def _masked_values(secrets: Mapping[str, str]) -> list[str]:
    # Longest first, so a secret that contains another is masked whole.
    return sorted({v for v in secrets.values() if v}, key=len, reverse=True)


def _mask(value: Any, secrets: Sequence[str]) -> Any:
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, _MASK)
        return value
    if isinstance(value, Mapping):
        return {_mask(k, secrets): _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, secrets) for v in value]
    return value
