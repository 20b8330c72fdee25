"""Continuing an AI tool's session (pure): a follow-up task runs where the session lives.

A session is kept on the disk of the agent that ran it, by the tool that started it, so a task
that continues task T runs T's tool on T's agent only, with T's `session_id` output as its
`resume` input (the input every AI CLI adapter takes for this).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from ...errors import InvalidArgumentError
from ...model import TaskSpec, ToolInfo
from ..core import TaskRecord
from ._validation import input_names, resolve_action

SESSION_INPUT = "resume"
SESSION_OUTPUT = "session_id"


def session_of(task: TaskRecord) -> str:
    """The session an ended task leaves for a follow-up; empty when it left none."""
    session = (task.outputs or {}).get(SESSION_OUTPUT)
    return session if isinstance(session, str) else ""


def continue_session(spec: TaskSpec, previous: TaskRecord, tools: Iterable[ToolInfo]) -> TaskSpec:
    """`spec` pinned to the agent holding `previous`'s session, the session as its `resume`
    input. Raises InvalidArgumentError saying why `previous` cannot be continued."""
    where = f"continue_from: task {previous.id}"
    if spec.fallback:
        raise InvalidArgumentError(
            "continue_from and fallback do not go together: a session belongs to one tool"
        )
    if previous.spec.tool != spec.tool:
        raise InvalidArgumentError(
            f"{where} ran {previous.spec.tool}; a session of {previous.spec.tool} cannot be"
            f" continued by {spec.tool}"
        )
    accepted = input_names(resolve_action(spec, tools)[1])
    if accepted is not None and SESSION_INPUT not in accepted:
        raise InvalidArgumentError(f"tool {spec.tool} has no sessions to continue")
    if not previous.state.terminal:
        raise InvalidArgumentError(
            f"{where} has not ended yet ({previous.state}); continue it once it has"
        )
    session = session_of(previous)
    if not session:
        raise InvalidArgumentError(f"{where} left no {SESSION_OUTPUT} in its outputs")
    if SESSION_INPUT in spec.inputs:
        raise InvalidArgumentError(
            f"give either continue_from or a {SESSION_INPUT} input, not both"
        )
    if spec.agent and spec.agent != previous.agent_id:
        raise InvalidArgumentError(
            f"{where}: its session is on agent {previous.agent_id}, so the task cannot be"
            f" pinned to agent {spec.agent}"
        )
    return replace(spec, agent=previous.agent_id, inputs={**spec.inputs, SESSION_INPUT: session})


def awaiting_session(spec: TaskSpec, agent: str, state: str) -> str:
    """Why a follow-up waits: the agent holding its session is `state` (draining, away)."""
    session = spec.inputs.get(SESSION_INPUT, "")
    return (
        f"agent {agent} {state}; it holds session {session} of task {spec.continue_from},"
        " so the task waits for it"
    )
