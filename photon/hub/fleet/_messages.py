"""What the hub sends down an agent's stream, as values (the mesh edge puts them on the wire)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..core import AttemptRef, TaskRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignTask:
    """Run this attempt of the task (its ref is the task's current one), with the values of
    the secrets its env references, by name (never shown in a repr)."""

    task: TaskRecord
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAttempt:
    ref: AttemptRef
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDraining:
    draining: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AckResult:
    """The result of this attempt is recorded (or refused as stale): the agent may drop it."""

    ref: AttemptRef


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalAnswer:
    """The agent's renewed certificate, or (`error`) why it was not renewed."""

    certificate_pem: bytes = b""
    error: str = ""


AgentMessage = AssignTask | CancelAttempt | SetDraining | AckResult | RenewalAnswer
