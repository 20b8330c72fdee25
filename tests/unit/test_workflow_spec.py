"""Workflow files: shape checks, graph checks, inputs and tools, all before anything runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from photon.errors import InvalidArgumentError
from photon.hub.workflows._spec import (
    Condition,
    ancestors,
    check_tools,
    expand_matrix,
    parse_workflow,
    resolve_inputs,
)
from photon.model import ActionInfo, RetryPolicy, ToolInfo


def step(step_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "tool": "echo", **fields}


def workflow(*steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "wf", "steps": list(steps), **fields}


def rejected(document: Any) -> str:
    with pytest.raises(InvalidArgumentError) as caught:
        parse_workflow(document)
    return str(caught.value)


# -- shape ------------------------------------------------------------------------------------


def test_a_minimal_step_gets_the_task_defaults() -> None:
    spec = parse_workflow(workflow(step("a")))
    only = spec.step("a")
    assert spec.name == "wf"
    assert (spec.inputs, spec.concurrency, spec.timeout) == ({}, None, None)
    assert only.needs == ()
    assert only.condition is Condition.SUCCESS
    assert not only.fans_out
    assert only.task.tool == "echo"
    assert only.task.action == ""
    assert only.task.priority == 5
    assert only.task.queue_timeout == 300.0
    assert only.task.timeout is None
    assert only.task.retry == RetryPolicy()


def test_every_task_field_is_carried_into_the_step() -> None:
    spec = parse_workflow(
        workflow(
            step(
                "a",
                action="echo",
                inputs={"x": 1},
                selector={"kind": "local", "region": "eu"},
                agent="box-1",
                priority=9,
                timeout="1m30s",
                queue_timeout=45,
                retry={"max_attempts": 4, "initial_backoff": "2s", "max_backoff": "1m"},
                locks="repo:web",
                env={"N": 3},
                labels={"team": "ui"},
            ),
            concurrency=2,
            timeout="1h",
        )
    )
    task = spec.step("a").task
    assert task.action == "echo"
    assert task.inputs == {"x": 1}
    assert task.selector == "kind=local,region=eu"
    assert task.agent == "box-1"
    assert task.priority == 9
    assert task.timeout == 90.0
    assert task.queue_timeout == 45.0
    assert task.retry == RetryPolicy(max_attempts=4, initial_backoff=2.0, max_backoff=60.0)
    assert tuple(task.locks) == ("repo:web",)
    assert task.env == {"N": "3"}
    assert task.labels == {"team": "ui"}
    assert (spec.concurrency, spec.timeout) == (2, 3600.0)


def test_retry_as_a_number_is_the_attempt_count() -> None:
    spec = parse_workflow(workflow(step("a", retry=1)))
    assert spec.step("a").task.retry == RetryPolicy(max_attempts=1)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("steps: []", "a workflow must be a mapping with name and steps"),
        (workflow(step("a"), version=2), "workflow: unknown field 'version'"),
        ({"steps": [step("a")]}, "workflow: name is required"),
        (workflow(), "workflow: steps must be a non-empty list"),
        ({"name": "wf", "steps": {"a": {}}}, "workflow: steps must be a non-empty list"),
        (workflow("a"), "steps[0]: must be a mapping"),
        (
            workflow(step("a"), {"tool": "echo"}),
            "steps[1]: needs an id of letters, digits, - and _",
        ),
        (workflow(step("1st")), "steps[0]: needs an id of letters, digits, - and _"),
        (workflow(step("a", command="ls")), "step 'a': unknown field 'command'"),
        (workflow({"id": "a", "action": "run"}), "step 'a': tool is required"),
        (workflow(step("a", tool="")), "step 'a': tool is required"),
        (workflow(step("a", inputs=["x"])), "step 'a' inputs: must be a mapping"),
        (workflow(step("a", priority=10)), "step 'a' priority: must be a whole number from 0 to 9"),
        (workflow(step("a", needs=[1])), "step 'a' needs: must be a string or a list of strings"),
        (workflow(step("a", env=["X=1"])), "step 'a' env: must be a mapping"),
        (
            workflow(step("a", selector=3)),
            "step 'a' selector: must be a string like kind=local or a mapping",
        ),
        (workflow(step("a"), inputs=["x"]), "workflow inputs: must be a mapping"),
        (
            workflow(step("a"), concurrency=0),
            "workflow concurrency: must be a whole number of at least 1",
        ),
    ],
)
def test_malformed_documents_are_rejected_naming_the_place(document: Any, message: str) -> None:
    assert rejected(document) == message


def test_duplicate_ids_are_rejected() -> None:
    assert rejected(workflow(step("a"), step("b"), step("a"))) == "step 'a': the id is used twice"


# -- conditions, fan-out ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("success()", Condition.SUCCESS),
        ("failure()", Condition.FAILURE),
        ("always()", Condition.ALWAYS),
        ("${{ always() }}", Condition.ALWAYS),
        ("  ${{failure()}} ", Condition.FAILURE),
    ],
)
def test_if_accepts_the_three_conditions(text: str, condition: Condition) -> None:
    spec = parse_workflow(workflow(step("a"), step("b", needs="a", **{"if": text})))
    assert spec.step("b").condition is condition


@pytest.mark.parametrize("text", ["true", True, "cancelled()", "${{ inputs.go }}", ""])
def test_a_bad_if_is_rejected(text: Any) -> None:
    message = rejected(workflow(step("a", **{"if": text})))
    assert message == "step 'a' if: must be success(), failure() or always()"


def test_matrix_and_for_each_together_are_rejected() -> None:
    document = workflow(step("a", matrix={"os": ["linux"]}, for_each=[1, 2]))
    assert rejected(document) == "step 'a': use either matrix or for_each, not both"


@pytest.mark.parametrize("matrix", [{}, {"os": []}, {"os": "linux"}, ["linux"]])
def test_a_matrix_must_map_names_to_non_empty_lists(matrix: Any) -> None:
    message = rejected(workflow(step("a", matrix=matrix)))
    assert message == "step 'a' matrix: must map names to non-empty lists"


def test_fan_out_steps_say_so() -> None:
    spec = parse_workflow(
        workflow(step("each", for_each=[1, 2]), step("grid", matrix={"os": ["linux", "mac"]}))
    )
    assert spec.step("each").fans_out and spec.step("grid").fans_out


def test_expand_matrix_gives_every_combination_in_order() -> None:
    combos = expand_matrix({"os": ["linux", "mac"], "py": ["3.11", "3.12", "3.13"]})
    assert combos == [
        {"os": "linux", "py": "3.11"},
        {"os": "linux", "py": "3.12"},
        {"os": "linux", "py": "3.13"},
        {"os": "mac", "py": "3.11"},
        {"os": "mac", "py": "3.12"},
        {"os": "mac", "py": "3.13"},
    ]


# -- durations and retry ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "timeout",
            "soon",
            "invalid duration 'soon': expected e.g. 90, 90s, 15m, 1h30m, 500ms or 2d",
        ),
        ("timeout", "0s", "invalid duration '0s': must be greater than zero"),
        ("timeout", 0, "must be a duration such as 90, 30s or 10m"),
        ("timeout", -5, "must be a duration such as 90, 30s or 10m"),
        ("timeout", True, "must be a duration such as 90, 30s or 10m"),
        ("queue_timeout", [5], "must be a duration such as 90, 30s or 10m"),
    ],
)
def test_a_bad_duration_is_rejected(field: str, value: Any, message: str) -> None:
    assert rejected(workflow(step("a", **{field: value}))) == f"step 'a' {field}: {message}"


def test_a_bad_workflow_timeout_is_rejected() -> None:
    message = rejected(workflow(step("a"), timeout="forever"))
    assert message.startswith("workflow timeout: invalid duration 'forever'")


@pytest.mark.parametrize(
    ("retry", "message"),
    [
        (0, "step 'a' retry: must be a number of attempts or a mapping"),
        (True, "step 'a' retry: must be a number of attempts or a mapping"),
        ("3", "step 'a' retry: must be a number of attempts or a mapping"),
        ({"attempts": 3}, "step 'a' retry: unknown key 'attempts'"),
        ({"max_attempts": 0}, "step 'a' retry.max_attempts: must be a whole number of at least 1"),
        (
            {"max_attempts": 2.5},
            "step 'a' retry.max_attempts: must be a whole number of at least 1",
        ),
        (
            {"initial_backoff": "later"},
            "step 'a' retry.initial_backoff: invalid duration 'later':"
            " expected e.g. 90, 90s, 15m, 1h30m, 500ms or 2d",
        ),
        (
            {"max_backoff": 0},
            "step 'a' retry.max_backoff: must be a duration such as 90, 30s or 10m",
        ),
        ({"multiplier": "x"}, "step 'a' retry.multiplier: must be a number of at least 1"),
        ({"multiplier": 0}, "step 'a' retry.multiplier: must be a number of at least 1"),
    ],
)
def test_a_bad_retry_is_rejected(retry: Any, message: str) -> None:
    assert rejected(workflow(step("a", retry=retry))) == message


# -- the graph --------------------------------------------------------------------------------


def test_unknown_needs_are_rejected() -> None:
    message = rejected(workflow(step("a"), step("b", needs=["a", "ghost"])))
    assert message == "step 'b': needs unknown step 'ghost'"


def test_a_step_needing_itself_is_rejected() -> None:
    assert rejected(workflow(step("a", needs="a"))) == "step 'a': needs itself"


def test_a_cycle_is_rejected_naming_its_steps_only() -> None:
    document = workflow(
        step("start"),
        step("a", needs=["start", "c"]),
        step("b", needs="a"),
        step("c", needs="b"),
        step("after", needs="c"),  # depends on the cycle but is not part of it
    )
    assert rejected(document) == "steps a, b, c form a cycle through needs"


def test_two_step_cycle() -> None:
    message = rejected(workflow(step("x", needs="y"), step("y", needs="x")))
    assert message == "steps x, y form a cycle through needs"


def test_topological_order_puts_needs_first_and_keeps_file_order_otherwise() -> None:
    spec = parse_workflow(
        workflow(
            step("deploy", needs=["api", "review"]),
            step("review", needs=["ui", "api"]),
            step("api", needs="ui"),
            step("ui"),
            step("docs"),
        )
    )
    assert list(spec.order) == ["ui", "docs", "api", "review", "deploy"]


def test_topological_order_of_a_diamond() -> None:
    spec = parse_workflow(
        workflow(
            step("top"),
            step("left", needs="top"),
            step("right", needs="top"),
            step("bottom", needs=["left", "right"]),
        )
    )
    order = list(spec.order)
    assert order == ["top", "left", "right", "bottom"]
    for s in spec.steps:
        assert all(order.index(n) < order.index(s.id) for n in s.needs)


def test_ancestors_are_transitive() -> None:
    spec = parse_workflow(
        workflow(
            step("a"),
            step("b", needs="a"),
            step("c", needs="b"),
            step("d"),
            step("e", needs=["c", "d"]),
        )
    )
    assert ancestors(spec, "a") == set()
    assert ancestors(spec, "c") == {"a", "b"}
    assert ancestors(spec, "e") == {"a", "b", "c", "d"}


# -- references -------------------------------------------------------------------------------


def test_references_to_ancestors_inputs_items_and_matrix_are_accepted() -> None:
    parse_workflow(
        workflow(
            step("a", inputs={"msg": "${{ inputs.greeting }}"}),
            step("b", needs="a", for_each="${{ steps.a.outputs.list }}"),
            step(
                "c",
                needs="b",
                inputs={"from_a": "${{ steps.a.outputs.msg }}", "all_b": "${{ steps.b.outputs }}"},
            ),
            step("d", needs="c", for_each=[1, 2], inputs={"n": "${{ item }}"}),
            step("e", needs="c", matrix={"os": ["linux"]}, inputs={"os": "${{ matrix.os }}"}),
            inputs={"greeting": "hi"},
        )
    )


def test_outputs_of_a_step_not_in_needs_are_rejected() -> None:
    document = workflow(
        step("a"),
        step("b"),
        step("c", needs="a", inputs={"text": "got ${{ steps.b.outputs.result }}"}),
    )
    assert rejected(document) == (
        "step 'c' inputs: ${{ steps.b.outputs.result }} refers to 'b', which is not in needs"
    )


def test_outputs_of_a_later_step_are_rejected_even_in_for_each() -> None:
    document = workflow(
        step("a", for_each="${{ steps.b.outputs.items }}"),
        step("b"),
    )
    assert rejected(document) == (
        "step 'a' for_each: ${{ steps.b.outputs.items }} refers to 'b', which is not in needs"
    )


def test_a_reference_to_an_unknown_step_is_rejected() -> None:
    document = workflow(step("a", inputs={"x": ["${{ steps.ghost.outputs.x }}"]}))
    assert rejected(document) == (
        "step 'a' inputs: ${{ steps.ghost.outputs.x }} refers to 'ghost', which is not in needs"
    )


def test_step_references_must_go_through_outputs() -> None:
    document = workflow(step("a"), step("b", needs="a", inputs={"x": "${{ steps.a.state }}"}))
    assert rejected(document) == (
        "step 'b' inputs: refer to step outputs as steps.<id>.outputs.<key>"
    )


def test_an_unknown_workflow_input_is_rejected() -> None:
    document = workflow(step("a", inputs={"x": {"deep": "${{ inputs.nope }}"}}), inputs={"k": 1})
    assert rejected(document) == "step 'a' inputs: ${{ inputs.nope }} names no workflow input"


def test_inputs_alone_is_not_an_input() -> None:
    document = workflow(step("a", inputs={"x": "${{ inputs }}"}), inputs={"k": 1})
    assert rejected(document) == "step 'a' inputs: ${{ inputs }} names no workflow input"


def test_item_outside_for_each_is_rejected() -> None:
    document = workflow(step("a", inputs={"x": "${{ item }}"}))
    assert rejected(document) == "step 'a' inputs: ${{ item }} is only available in a for_each step"


def test_an_unknown_matrix_key_is_rejected() -> None:
    document = workflow(step("a", matrix={"os": ["linux"]}, inputs={"x": "${{ matrix.arch }}"}))
    assert rejected(document) == "step 'a' inputs: ${{ matrix.arch }} names no matrix key"


def test_an_unknown_expression_root_is_rejected() -> None:
    document = workflow(step("a", inputs={"x": "${{ env.HOME }}"}))
    assert rejected(document) == (
        "step 'a' inputs: unknown expression root 'env' (inputs, steps, item, matrix)"
    )


def test_an_expression_that_is_not_a_path_is_rejected_naming_the_step() -> None:
    document = workflow(step("a", inputs={"x": "${{ inputs.a || 'b' }}"}), inputs={"a": 1})
    assert rejected(document) == "step 'a': expression ${{ inputs.a || 'b' }} is not a name path"


def test_a_step_may_not_set_its_tasks_idempotency_key() -> None:
    document = workflow(step("a", idempotency_key="mine"))
    assert rejected(document) == (
        "step 'a': idempotency_key is not a step field: the hub keys each step's tasks"
    )


# -- workflow inputs --------------------------------------------------------------------------


def test_resolve_inputs_applies_defaults_and_overrides() -> None:
    spec = parse_workflow(
        workflow(
            step("a"),
            inputs={
                "greeting": {"default": "hello", "description": "what to say"},
                "count": 3,
                "who": {"default": "world"},
            },
        )
    )
    assert spec.inputs == {"greeting": "hello", "count": 3, "who": "world"}
    assert resolve_inputs(spec, {}) == {"greeting": "hello", "count": 3, "who": "world"}
    assert resolve_inputs(spec, {"who": "photon", "count": 5}) == {
        "greeting": "hello",
        "count": 5,
        "who": "photon",
    }


def test_inputs_without_a_default_are_required() -> None:
    spec = parse_workflow(
        workflow(step("a"), inputs={"repo": {"description": "which"}, "branch": None, "n": 1})
    )
    with pytest.raises(InvalidArgumentError, match=r"^workflow input 'branch' is required$"):
        resolve_inputs(spec, {"repo": "web"})
    with pytest.raises(InvalidArgumentError, match=r"^workflow input 'repo' is required$"):
        resolve_inputs(spec, {"branch": "main"})
    assert resolve_inputs(spec, {"repo": "web", "branch": "main"}) == {
        "repo": "web",
        "branch": "main",
        "n": 1,
    }


def test_unknown_inputs_are_refused() -> None:
    spec = parse_workflow(workflow(step("a"), inputs={"k": 1}))
    with pytest.raises(InvalidArgumentError, match=r"^workflow has no input 'z'$"):
        resolve_inputs(spec, {"k": 2, "z": 1, "zz": 2})


# -- tools ------------------------------------------------------------------------------------

ECHO_SCHEMA = {
    "type": "object",
    "properties": {"sleep": {"type": "number", "minimum": 0}, "fail": {"type": "string"}},
}
SHELL_SCHEMA = {
    "type": "object",
    "properties": {"argv": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
    "required": ["argv"],
    "additionalProperties": False,
}


def capability(name: str, schema: dict[str, Any], *actions: str) -> ToolInfo:
    names = actions or (name,)
    return ToolInfo(
        name=name,
        default_action=names[0],
        available=True,
        enabled=True,
        actions=tuple(ActionInfo(name=a, input_schema_json=json.dumps(schema)) for a in names),
    )


TOOLS = [capability("echo", ECHO_SCHEMA), capability("shell", SHELL_SCHEMA, "run")]


def tool_error(document: dict[str, Any]) -> str:
    with pytest.raises(InvalidArgumentError) as caught:
        check_tools(parse_workflow(document), TOOLS)
    return str(caught.value)


def test_check_tools_fills_in_default_actions() -> None:
    spec = check_tools(
        parse_workflow(workflow(step("a"), step("b", tool="shell", inputs={"argv": ["true"]}))),
        TOOLS,
    )
    assert [s.task.action for s in spec.steps] == ["echo", "run"]


def test_an_unknown_tool_is_rejected_naming_the_step() -> None:
    message = tool_error(workflow(step("a"), step("b", tool="claude")))
    assert message == "step 'b': unknown tool 'claude' (no connected agent offers it)"


def test_an_unknown_action_is_rejected_naming_the_step() -> None:
    message = tool_error(workflow(step("a", tool="shell", action="exec")))
    assert message == "step 'a': tool shell has no action 'exec' (actions: run)"


def test_static_inputs_are_checked_against_the_schema() -> None:
    assert tool_error(workflow(step("a", inputs={"sleep": -1}))) == (
        "step 'a': input sleep: -1 is less than the minimum of 0"
    )
    assert tool_error(workflow(step("a", tool="shell"))) == (
        "step 'a': inputs: 'argv' is a required property"
    )


def test_inputs_holding_expressions_are_checked_only_when_they_run() -> None:
    document = workflow(
        step("a"),
        step("b", needs="a", tool="shell", inputs={"argv": "${{ steps.a.outputs.argv }}"}),
        step("c", needs="a", inputs={"sleep": "${{ steps.a.outputs.sleep }}", "extra": 1}),
        step("d", tool="shell", for_each=[1, 2], inputs={"argv": "not a list"}),
    )
    checked = check_tools(parse_workflow(document), TOOLS)
    assert [s.id for s in checked.steps] == ["a", "b", "c", "d"]


def test_without_connected_agents_nothing_can_be_checked() -> None:
    document = workflow(step("a", tool="anything", inputs={"sleep": -1}))
    spec = check_tools(parse_workflow(document), [])
    assert spec.step("a").task.action == ""
