"""Workflow files: shape checks, graph checks, inputs and tools, all before anything runs."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from photon.errors import InvalidArgumentError
from photon.hub.core import Limits
from photon.hub.workflows._spec import (
    Condition,
    WorkflowSpec,
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
                fallback="gemini-cli",
                budget_usd=0.25,
            ),
            concurrency=2,
            timeout="1h",
            budget_usd=2,
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
    assert (tuple(task.fallback), task.budget_usd) == (("gemini-cli",), 0.25)
    assert (spec.concurrency, spec.timeout, spec.budget_usd) == (2, 3600.0, 2.0)


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


# -- size: limits, linear checks, short errors --------------------------------------------------
#
# The bounds on time below are generous (the old checks took from 30 s to minutes on these
# shapes, the new ones well under a second); they catch a check that is quadratic again, not a
# slow machine.

GENEROUS = 5.0  # seconds


def ring(n: int) -> dict[str, Any]:
    """n steps, each needing the one before it and the first needing the last."""
    return workflow(*(step(f"s{i}", needs=f"s{(i - 1) % n}") for i in range(n)))


def chain(n: int, **inputs: str) -> dict[str, Any]:
    """n steps, each needing the one before; `inputs` (formatted with the step's number i and
    i - 1 as `prev`) go into every step but the first."""
    steps = [step("s0")]
    for i in range(1, n):
        given = {k: v.format(i=i, prev=i - 1) for k, v in inputs.items()}
        steps.append(step(f"s{i}", needs=f"s{i - 1}", inputs=given))
    return workflow(*steps)


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """(seconds, result or the InvalidArgumentError raised)."""
    started = time.perf_counter()
    try:
        result = call(*args, **kwargs)
    except InvalidArgumentError as exc:
        result = exc
    return time.perf_counter() - started, result


@pytest.mark.parametrize("n", [1001, 10_000, 100_000])
def test_more_steps_than_the_limit_are_refused_before_any_is_read(n: int) -> None:
    document = ring(n)
    document["steps"][0] = "not even a mapping"  # never looked at
    seconds, refused = timed(parse_workflow, document)
    assert str(refused) == (
        f"workflow: the number of steps exceeds the limit max-workflow-steps ({n} > 1000)"
    )
    assert seconds < 0.5


def test_the_step_limit_is_the_hubs_and_a_stored_document_is_not_held_to_it() -> None:
    small = Limits(max_workflow_steps=3)
    assert rejected_with(chain(4), small) == (
        "workflow: the number of steps exceeds the limit max-workflow-steps (4 > 3)"
    )
    assert len(parse_workflow(chain(4), limits=Limits(max_workflow_steps=4)).steps) == 4
    # What the hub stored it reads back, whatever the limits have become since.
    assert len(parse_workflow(chain(1001), limits=None).steps) == 1001


def test_a_ring_of_the_most_steps_allowed_is_refused_naming_a_few_of_them() -> None:
    seconds, refused = timed(parse_workflow, ring(1000))
    assert str(refused) == (
        "steps s0, s1, s10, s100, s101, s102, s103, s104, s105, s106 and 990 more"
        " form a cycle through needs"
    )
    assert seconds < GENEROUS


def test_a_ring_of_ten_thousand_steps_is_refused_in_linear_time() -> None:
    # 30 s of the hub's CPU before: every step left out searched the graph for itself.
    seconds, refused = timed(parse_workflow, ring(10_000), limits=Limits(max_workflow_steps=10_000))
    assert str(refused).startswith("steps s0, s1, s10, s100, s1000, s1001, ")
    assert str(refused).endswith(" and 9990 more form a cycle through needs")
    assert len(str(refused)) < 200
    assert seconds < GENEROUS


def test_only_steps_on_a_cycle_are_named_not_those_between_or_after_cycles() -> None:
    document = workflow(
        step("a", needs="b"),
        step("b", needs="a"),
        step("x", needs="a"),  # after one cycle, before the next: on none
        step("c", needs=["d", "x"]),
        step("d", needs="c"),
        step("after", needs="d"),
        step("free"),
    )
    assert rejected(document) == "steps a, b, c, d form a cycle through needs"


@pytest.mark.timeout(30)
def test_a_long_chain_referring_to_the_first_step_is_checked_in_linear_time() -> None:
    # Each reference to the first step is to an ancestor, not a need: before, each step's
    # ancestors were searched for anew, and 10,000 steps took minutes; in one pass they take
    # about a second. No ratio of timings (a busy machine decides those): the 30 s timeout is
    # far from either.
    n = 10_000
    document = chain(
        n, prev="${{{{ steps.s{prev}.outputs.x }}}}", first="${{{{ steps.s0.outputs.x }}}}"
    )
    spec = parse_workflow(document, limits=Limits(max_workflow_steps=n))
    assert isinstance(spec, WorkflowSpec)
    assert spec.order[:3] == ("s0", "s1", "s2") and len(spec.order) == n


def test_a_non_ancestor_at_the_end_of_a_long_chain_is_still_refused() -> None:
    document = chain(1000, far="${{{{ steps.s{prev}.outputs.x }}}}")
    document["steps"].insert(0, step("aside"))
    document["steps"].pop()
    document["steps"][-1]["inputs"]["late"] = "${{ steps.aside.outputs.x }}"
    seconds, refused = timed(parse_workflow, document)
    assert str(refused) == (
        "step 's998' inputs: ${{ steps.aside.outputs.x }} refers to 'aside', which is not in needs"
    )
    assert seconds < GENEROUS


def test_references_through_other_branches_are_refused_and_up_the_own_branch_accepted() -> None:
    steps = [
        step("a"),
        step("b", needs="a"),
        step("c", needs="a"),
        step("d", needs="b", inputs={"top": "${{ steps.a.outputs.x }}"}),
    ]
    parse_workflow(workflow(*steps))
    steps[3] = step("d", needs="b", inputs={"x": ["${{ steps.c.outputs.x }}"]})
    assert rejected(workflow(*steps)) == (
        "step 'd' inputs: ${{ steps.c.outputs.x }} refers to 'c', which is not in needs"
    )
    steps[3] = step("d", needs="b", for_each="${{ steps.d.outputs.x }}")
    assert rejected(workflow(*steps)) == (
        "step 'd' for_each: ${{ steps.d.outputs.x }} refers to 'd', which is not in needs"
    )


def test_the_first_mistake_in_file_order_is_the_one_reported() -> None:
    document = workflow(
        step("a"),
        step("b", inputs={"x": "${{ steps.a.outputs.x }}"}),  # not in needs
        step("c", inputs={"x": "${{ inputs.a || 1 }}"}),  # not a path
    )
    assert rejected(document) == (
        "step 'b' inputs: ${{ steps.a.outputs.x }} refers to 'a', which is not in needs"
    )
    document["steps"][1]["needs"] = "a"
    assert rejected(document) == "step 'c': expression ${{ inputs.a || 1 }} is not a name path"


def test_the_first_duplicate_id_in_file_order_is_named() -> None:
    document = workflow(step("b"), step("a"), step("a"), step("b"))
    assert rejected(document) == "step 'b': the id is used twice"


@pytest.mark.parametrize(
    "text",
    ["${{ " * 375, "${{" + " " * 1497, "x ${{ inputs.k }} ${{" + "}" * 1479, "${{${{" * 250],
)
def test_a_pathological_1500_character_input_is_handled_in_milliseconds(text: str) -> None:
    # 12.6 s of the hub's CPU before, backtracking over `${{` and spaces.
    seconds, _ = timed(parse_workflow, workflow(step("a", inputs={"x": text}), inputs={"k": 1}))
    assert seconds < 0.5


def test_an_unclosed_expression_is_literal_text() -> None:
    spec = parse_workflow(workflow(step("a", inputs={"x": "${{ " * 375})))
    assert spec.step("a").task.inputs == {"x": "${{ " * 375}


def test_an_expression_longer_than_the_limit_is_refused() -> None:
    name = "n" * 247
    exactly = f"${{{{ inputs.{name} }}}}"  # 256 characters between the braces
    parse_workflow(workflow(step("a", inputs={"x": exactly}), inputs={name: 1}))
    longer = f"${{{{ inputs.{name}n }}}}"
    assert rejected(workflow(step("a", inputs={"x": longer}), inputs={name + "n": 1})) == (
        "step 'a': expression ${{ inputs.nnnnnnnnnnnnnnnnn... exceeds the limit"
        " max-expression-length (257 > 256)"
    )
    message = rejected(workflow(step("a", inputs={"x": "${{" + " " * 1494 + "}}"})))
    assert message == (
        "step 'a': expression ${{ ... exceeds the limit max-expression-length (1494 > 256)"
    )


def nested(depth: int) -> Any:
    """Mappings and lists nested `depth` deep, a mapping outermost."""
    value: Any = "leaf"
    for level in range(depth, 0, -1):
        value = {"k": value} if level % 2 else [value]
    return value


def test_inputs_nested_deeper_than_the_limit_are_refused() -> None:
    parse_workflow(workflow(step("a", inputs=nested(32))))
    assert rejected(workflow(step("a", inputs=nested(33)))) == (
        "step 'a' inputs: the nesting exceeds the limit max-input-depth (33 > 32)"
    )
    assert rejected(workflow(step("a", for_each=nested(40)))) == (
        "step 'a' for_each: the nesting exceeds the limit max-input-depth (40 > 32)"
    )
    assert rejected(workflow(step("a"), inputs={"deep": {"default": nested(32)}})) == (
        "workflow inputs: the nesting exceeds the limit max-input-depth (34 > 32)"
    )


def test_a_fan_out_over_the_limit_in_the_file_is_refused_at_submit() -> None:
    grid = {"os": list(range(101)), "py": list(range(100))}
    assert rejected(workflow(step("a", matrix=grid))) == (
        "step 'a' matrix: the fan-out exceeds the limit max-fan-out (10100 > 10000)"
    )
    assert rejected(workflow(step("a", for_each=list(range(10_001))))) == (
        "step 'a' for_each: the fan-out exceeds the limit max-fan-out (10001 > 10000)"
    )
    parse_workflow(workflow(step("a", for_each=list(range(10_000)))))
    # A huge matrix is counted, not expanded.
    huge = {k: list(range(1000)) for k in "abcd"}
    seconds, refused = timed(parse_workflow, workflow(step("a", matrix=huge)))
    assert "(1000000000000 > 10000)" in str(refused)
    assert seconds < 0.5


def test_a_selector_longer_than_the_limit_is_refused_before_it_is_parsed() -> None:
    assert rejected(workflow(step("a", selector="k" * 1025))) == (
        "step 'a' selector exceeds the limit max-selector-length (1025 > 1024)"
    )


@pytest.mark.parametrize(
    "document",
    [
        workflow(step("a"), **{"x" * 10_000: 1}),
        workflow(step("a", **{"x" * 10_000: 1})),
        workflow(step("a", needs="x" * 10_000)),
        workflow(step("a", retry={"x" * 10_000: 1})),
        workflow(step("a", timeout="x" * 10_000)),
    ],
)
def test_errors_quote_at_most_a_little_of_what_they_were_given(document: Any) -> None:
    message = rejected(document)
    assert re.search(r"\.\.\. \(100\d\d characters\)", message), message
    assert len(message) < 300


def test_check_tools_keeps_the_order_and_indexes_the_checked_steps() -> None:
    spec = parse_workflow(workflow(step("b", needs="a"), step("a")))
    checked = check_tools(spec, TOOLS)
    assert checked.order == ("a", "b")
    assert checked.step("b").task.action == "echo"
    assert checked.steps == tuple(checked.step(i) for i in ("b", "a"))


def rejected_with(document: Any, limits: Limits) -> str:
    with pytest.raises(InvalidArgumentError) as caught:
        parse_workflow(document, limits=limits)
    return str(caught.value)
