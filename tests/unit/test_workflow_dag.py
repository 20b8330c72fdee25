"""How a workflow's DAG moves on, as plain calls: readiness, fan-out, how steps and workflows
end, and the step key."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from photon.errors import InvalidArgumentError
from photon.hub.core import Limits, StepRecord, TaskRecord
from photon.hub.workflows import StepKey, parse_workflow
from photon.hub.workflows._dag import (
    Readiness,
    at_concurrency_limit,
    instances,
    keyed,
    readiness,
    step_end,
    workflow_end,
)
from photon.model import Failure, FailureClass, StepState, TaskSpec, TaskState, WorkflowState

FLOW = parse_workflow(
    {
        "name": "flow",
        "concurrency": 2,
        "inputs": {"files": {"default": ["a.py", "b.py"]}},
        "steps": [
            {"id": "build", "tool": "echo", "inputs": {"n": 1}},
            {"id": "test", "tool": "echo", "needs": ["build"]},
            {"id": "notify", "tool": "echo", "needs": ["test"], "if": "always()"},
            {"id": "rollback", "tool": "echo", "needs": ["test"], "if": "failure()"},
            {
                "id": "lint",
                "tool": "echo",
                "needs": ["build"],
                "for_each": "${{ inputs.files }}",
                "inputs": {"path": "${{ item }}", "from": "${{ steps.build.outputs.n }}"},
            },
            {
                "id": "grid",
                "tool": "echo",
                "matrix": {"os": ["linux", "mac"], "py": [3.11, 3.12]},
                "inputs": {"target": "${{ matrix.os }}-${{ matrix.py }}"},
            },
        ],
    }
)


def steps(**states: StepState) -> dict[str, StepRecord]:
    return {
        s.id: StepRecord(workflow_id="w1", step_id=s.id, state=states.get(s.id, StepState.WAITING))
        for s in FLOW.steps
    }


def task(task_id: str, state: TaskState, outputs: dict[str, Any] | None = None) -> TaskRecord:
    failure = (
        None
        if state is TaskState.SUCCEEDED
        else Failure(failure_class=FailureClass.TOOL_ERROR, message="exit 1")
    )
    return TaskRecord(
        id=task_id,
        spec=TaskSpec(tool="echo"),
        state=state,
        created_at=1.0,
        outputs=outputs,
        failure=failure,
    )


# -- readiness --------------------------------------------------------------------------------


def test_a_step_waits_until_all_its_needs_have_ended() -> None:
    assert readiness(FLOW.step("test"), steps()) is Readiness.WAIT
    assert readiness(FLOW.step("test"), steps(build=StepState.RUNNING)) is Readiness.WAIT
    assert readiness(FLOW.step("test"), steps(build=StepState.SUCCEEDED)) is Readiness.START
    assert readiness(FLOW.step("build"), steps()) is Readiness.START  # no needs


@pytest.mark.parametrize(
    ("ended", "test_", "notify", "rollback"),
    [
        (StepState.SUCCEEDED, Readiness.START, Readiness.START, Readiness.SKIP),
        (StepState.FAILED, Readiness.SKIP, Readiness.START, Readiness.START),
        (StepState.SKIPPED, Readiness.SKIP, Readiness.START, Readiness.START),
        (StepState.CANCELLED, Readiness.SKIP, Readiness.START, Readiness.START),
    ],
)
def test_conditions_decide_on_how_the_needs_ended(
    ended: StepState, test_: Readiness, notify: Readiness, rollback: Readiness
) -> None:
    assert readiness(FLOW.step("test"), steps(build=ended)) is test_
    after_test = steps(build=StepState.SUCCEEDED, test=ended)
    assert readiness(FLOW.step("notify"), after_test) is notify
    assert readiness(FLOW.step("rollback"), after_test) is rollback


def test_the_concurrency_limit_is_reached_at_as_many_running_steps_as_it_allows() -> None:
    assert not at_concurrency_limit(FLOW, 1)
    assert at_concurrency_limit(FLOW, 2)
    assert at_concurrency_limit(FLOW, 3)
    assert not at_concurrency_limit(
        parse_workflow({"name": "n", "steps": [{"id": "a", "tool": "t"}]}), 2
    )


# -- fan-out ----------------------------------------------------------------------------------


def test_a_plain_step_is_one_task_with_its_inputs() -> None:
    [only] = instances(FLOW.step("build"), inputs={}, steps=steps())
    assert only.inputs == {"n": 1}


def test_for_each_fans_out_over_a_list_with_outputs_substituted() -> None:
    done = steps(build=StepState.SUCCEEDED)
    done["build"] = StepRecord(
        workflow_id="w1", step_id="build", state=StepState.SUCCEEDED, outputs={"n": 7}
    )
    specs = instances(FLOW.step("lint"), inputs={"files": ["a.py", "b.py"]}, steps=done)
    assert [s.inputs for s in specs] == [{"path": "a.py", "from": 7}, {"path": "b.py", "from": 7}]


def test_a_matrix_fans_out_over_every_combination() -> None:
    specs = instances(FLOW.step("grid"), inputs={}, steps=steps())
    assert [s.inputs["target"] for s in specs] == [
        "linux-3.11",
        "linux-3.12",
        "mac-3.11",
        "mac-3.12",
    ]


def test_a_for_each_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="for_each must give a list, got str"):
        instances(FLOW.step("lint"), inputs={"files": "a.py"}, steps=steps())


def test_a_fan_out_past_the_limit_is_refused_before_anything_is_expanded() -> None:
    few = Limits(max_fan_out=1)
    done = steps(build=StepState.SUCCEEDED)
    done["build"] = replace(done["build"], outputs={"n": 7})
    with pytest.raises(InvalidArgumentError) as caught:
        instances(FLOW.step("lint"), inputs={"files": ["a.py", "b.py"]}, steps=done, limits=few)
    assert str(caught.value) == "the fan-out exceeds the limit max-fan-out (2 > 1)"
    [one] = instances(FLOW.step("lint"), inputs={"files": ["a.py"]}, steps=done, limits=few)
    assert one.inputs["path"] == "a.py"
    # 10^12 combinations: counted, never listed.
    huge = replace(FLOW.step("grid"), matrix={k: list(range(1000)) for k in "abcd"})
    started = time.perf_counter()
    with pytest.raises(InvalidArgumentError, match=r"max-fan-out \(1000000000000 > 10000\)$"):
        instances(huge, inputs={}, steps=steps())
    assert time.perf_counter() - started < 0.5


def test_each_instance_is_keyed_and_labelled() -> None:
    specs = keyed("W1", "lint", [TaskSpec(tool="echo"), TaskSpec(tool="echo", labels={"k": "v"})])
    assert [s.idempotency_key for s in specs] == ["wf:W1:lint:0", "wf:W1:lint:1"]
    assert specs[1].labels == {"k": "v", "workflow": "W1", "step": "lint"}


def test_step_keys_are_written_and_read_in_one_place() -> None:
    key = StepKey(workflow_id="01HXYZ", step_id="deploy-prod", index=3)
    assert StepKey.parse(str(key)) == key
    for other in ("", "user-key", "wf:a:b", "wf:a:b:c", "xf:a:b:1", "wf:a:b:1:2"):
        assert StepKey.parse(other) is None


# -- ends -------------------------------------------------------------------------------------


def test_a_step_succeeds_when_all_its_tasks_did() -> None:
    end = step_end(FLOW.step("build"), [task("t1", TaskState.SUCCEEDED, {"n": 1})])
    assert (end.state, end.outputs, end.message) == (StepState.SUCCEEDED, {"n": 1}, "")


def test_a_fanned_out_step_has_the_list_of_outputs_and_fails_naming_the_first_failure() -> None:
    end = step_end(
        FLOW.step("lint"),
        [
            task("t1", TaskState.SUCCEEDED, {"ok": 1}),
            task("t2", TaskState.FAILED),
            task("t3", TaskState.TIMED_OUT),
        ],
    )
    assert end.state is StepState.FAILED
    assert end.outputs == [{"ok": 1}, {}, {}]
    assert end.message == "task t2 failed: exit 1"


def test_a_workflow_fails_naming_its_first_failed_step() -> None:
    ended = steps(
        build=StepState.SUCCEEDED,
        test=StepState.FAILED,
        notify=StepState.SUCCEEDED,
        rollback=StepState.SUCCEEDED,
        lint=StepState.SKIPPED,
        grid=StepState.FAILED,
    )
    ended["test"] = StepRecord(
        workflow_id="w1", step_id="test", state=StepState.FAILED, message="task t9 failed: no"
    )
    assert workflow_end(ended.values()) == (
        WorkflowState.FAILED,
        "step test failed: task t9 failed: no",
    )
    ok = steps(**{s.id: StepState.SUCCEEDED for s in FLOW.steps})
    assert workflow_end(ok.values()) == (WorkflowState.SUCCEEDED, "")
