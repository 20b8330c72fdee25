"""What the runner is given and what it reports: assignments in; acceptances, progress and
outcomes out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...model import Failure, WorkspaceSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRef:
    """One attempt of a task; the hub drops a report whose epoch is not the current one."""

    task_id: str
    attempt: int
    epoch: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """An attempt the hub asks this agent to run. `inputs` is None when the hub sent inputs
    that are not a JSON object (the attempt is refused as `invalid_input`)."""

    ref: AttemptRef
    tool: str
    action: str = ""
    inputs: Mapping[str, Any] | None = field(default_factory=dict)
    # The task's env as submitted: plain values and `secret:NAME` references.
    env: Mapping[str, str] = field(default_factory=dict)
    # The values of the secrets `env` references, by name.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float | None = None
    # The git checkout the tool works in, if any (docs/tasks.md, "Workspaces").
    workspace: WorkspaceSpec | None = None
    # Why the attempt cannot run as sent (refused as `invalid_input`); "" when it can.
    refusal: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """One event a plugin emitted while it ran (a log line, a tool call, usage, cost)."""

    kind: str
    message: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutcome:
    """How an attempt ended: its outputs, or why it failed (then `outputs` is empty)."""

    ref: AttemptRef
    outputs: Mapping[str, Any] = field(default_factory=dict)
    failure: Failure | None = None
    started_at: float
    finished_at: float

    @property
    def ok(self) -> bool:
        return self.failure is None


class Reports(Protocol):
    """Where the runner's news goes (the session sends it to the hub). Called synchronously
    from the runner; `finished` must keep the outcome until the hub has it."""

    def accepted(self, ref: AttemptRef) -> None: ...

    def progress(self, ref: AttemptRef, event: Progress) -> None: ...

    def finished(self, outcome: RunOutcome) -> None: ...
