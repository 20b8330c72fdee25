"""The rules for continuing an AI session: which tasks can be continued, and where."""

from __future__ import annotations

import json
from typing import Any

import pytest

from photon.errors import InvalidArgumentError
from photon.hub.core import AgentView, TaskRecord
from photon.hub.tasks import Waiting, place
from photon.hub.tasks._sessions import continue_session
from photon.hub.workflows._spec import parse_workflow
from photon.model import ActionInfo, TaskSpec, TaskState, ToolInfo


def tool(name: str, *properties: str) -> ToolInfo:
    schema = {"type": "object", "properties": {p: {"type": "string"} for p in properties}}
    action = ActionInfo(name="prompt", input_schema_json=json.dumps(schema))
    return ToolInfo(name=name, actions=(action,), default_action="prompt", available=True)


TOOLS = [tool("claude-code", "prompt", "resume"), tool("zai", "prompt")]


def ended(tool_name: str = "claude-code", **fields: Any) -> TaskRecord:
    defaults: dict[str, Any] = {
        "state": TaskState.SUCCEEDED,
        "agent_id": "id-a",
        "outputs": {"session_id": "s-1"},
    }
    return TaskRecord(
        id="T1", spec=TaskSpec(tool=tool_name), created_at=0.0, **{**defaults, **fields}
    )


def follow_up(**fields: Any) -> TaskSpec:
    return TaskSpec(tool="claude-code", inputs={"prompt": "go on"}, continue_from="T1", **fields)


def test_a_follow_up_is_pinned_to_the_holding_agent_and_resumes_the_session() -> None:
    spec = continue_session(follow_up(), ended(), TOOLS)
    assert spec.agent == "id-a"
    assert spec.inputs == {"prompt": "go on", "resume": "s-1"}
    assert spec.continue_from == "T1"


def test_a_failed_task_with_a_session_can_be_continued() -> None:
    spec = continue_session(follow_up(), ended(state=TaskState.FAILED), TOOLS)
    assert spec.inputs["resume"] == "s-1"


@pytest.mark.parametrize(
    ("spec", "previous", "message"),
    [
        (follow_up(), ended("echo"), "ran echo; a session of echo cannot be continued"),
        (
            TaskSpec(tool="zai", continue_from="T1"),
            ended("zai"),
            "tool zai has no sessions to continue",
        ),
        (follow_up(), ended(state=TaskState.RUNNING), "has not ended yet (RUNNING)"),
        (follow_up(), ended(outputs={"result": "x"}), "left no session_id in its outputs"),
        (follow_up(), ended(outputs=None), "left no session_id"),
        (
            TaskSpec(tool="claude-code", inputs={"resume": "x"}, continue_from="T1"),
            ended(),
            "either continue_from or a resume input",
        ),
        (follow_up(agent="id-b"), ended(), "cannot be pinned to agent id-b"),
        (follow_up(fallback=("gemini-cli",)), ended(), "do not go together"),
    ],
)
def test_what_cannot_be_continued_is_refused(
    spec: TaskSpec, previous: TaskRecord, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        continue_session(spec, previous, TOOLS)


def view(name: str, *, accepting: bool = True, draining: bool = False) -> AgentView:
    return AgentView(
        id=f"id-{name}",
        name=name,
        labels={},
        tools=frozenset({"claude-code"}),
        disabled_tools=frozenset(),
        slots=2,
        running=0,
        accepting=accepting,
        draining=draining,
    )


def test_a_follow_up_waits_for_its_agent_naming_it_and_the_session() -> None:
    spec = continue_session(follow_up(), ended(), TOOLS)
    away = place(spec, [view("a", accepting=False), view("b")])
    assert away == Waiting(
        reason="agent a is not connected; it holds session s-1 of task T1, so the task waits for it"
    )
    draining = place(spec, [view("a", accepting=False, draining=True), view("b")])
    assert isinstance(draining, Waiting) and draining.reason.startswith("agent a is draining;")
    gone = place(spec, [view("b")])
    assert isinstance(gone, Waiting) and gone.reason.startswith("agent id-a is not connected;")
    assert place(spec, [view("b"), view("a")]).agent_id == "id-a"  # type: ignore[union-attr]


def steps(*extra: dict[str, Any]) -> dict[str, Any]:
    base = [
        {"id": "plan", "tool": "claude-code", "inputs": {"prompt": "p"}},
        {"id": "mid", "tool": "echo", "needs": ["plan"]},
    ]
    return {"name": "wf", "steps": [*base, *extra]}


def test_a_step_may_continue_a_step_it_needs_directly_or_not() -> None:
    for needs in (["plan"], ["mid"]):
        step = {"id": "build", "tool": "claude-code", "needs": needs, "continue": "plan"}
        assert parse_workflow(steps(step)).step("build").continues == "plan"


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"continue": "nope", "needs": ["mid"]}, "step 'build' continue: names unknown step"),
        ({"continue": "plan"}, "step 'build' continue: step 'plan' is not in its needs"),
        ({"continue": "plan", "needs": ["plan"], "tool": "gemini-cli"}, "cannot be continued by"),
        ({"continue": 3, "needs": ["plan"]}, "must be the id of a step it needs"),
    ],
)
def test_a_bad_continue_is_refused_naming_the_step(step: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        parse_workflow(steps({"id": "build", "tool": "claude-code", **step}))


def test_a_fan_out_step_cannot_be_continued() -> None:
    document = {
        "name": "wf",
        "steps": [
            {"id": "many", "tool": "claude-code", "for_each": [1, 2]},
            {"id": "build", "tool": "claude-code", "needs": ["many"], "continue": "many"},
        ],
    }
    with pytest.raises(InvalidArgumentError, match="step 'many' fans out"):
        parse_workflow(document)
