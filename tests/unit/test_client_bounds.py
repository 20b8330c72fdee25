"""What the client parses from the hub is bounded (old data or a hub set to take more cannot
crash a script or photonctl), and what it sends is checked as a hub at its defaults would."""

from __future__ import annotations

import json
from typing import Any

import pytest

from photon.cli._output import render
from photon.client import PhotonClient
from photon.client._types import event_from_proto, task_from_proto, workflow_from_proto
from photon.errors import InvalidArgumentError
from photon.v1 import admin_pb2, common_pb2

TOO_DEEP = {"omitted": "nested deeper than 128 levels"}


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _task(inputs_json: str, outputs_json: str = "") -> admin_pb2.Task:
    spec = common_pb2.TaskSpec(id="t1", tool="echo", inputs_json=inputs_json)
    return admin_pb2.Task(
        spec=spec, state=common_pb2.TASK_STATE_SUCCEEDED, outputs_json=outputs_json
    )


@pytest.mark.parametrize("depth", [900, 10_000])
def test_a_task_nested_deeper_than_a_client_reads_is_shown_with_a_marker(depth: int) -> None:
    # 900 levels: `photonctl tasks show` crashed (asdict, the YAML dumper and the table recurse).
    task = task_from_proto(_task(_nested(depth), _nested(depth)))
    assert task.inputs == TOO_DEEP and task.outputs == TOO_DEEP
    for fmt in ("table", "json", "yaml"):
        assert "omitted" in render(task.to_dict(), fmt)


def test_what_a_client_can_read_it_keeps() -> None:
    task = task_from_proto(_task(_nested(128), '["not", "an object"]'))
    assert task.inputs == json.loads(_nested(128))
    assert task.outputs == ["not", "an object"]
    for fmt in ("table", "json", "yaml"):
        render(task.to_dict(), fmt)


def test_events_and_workflows_are_read_the_same_way() -> None:
    event = event_from_proto(common_pb2.TaskEvent(kind="log", data_json=_nested(5_000)))
    assert event.data == TOO_DEEP
    step = admin_pb2.WorkflowStep(id="a", outputs_json=_nested(5_000), state="STEP_STATE_SUCCEEDED")
    workflow = workflow_from_proto(
        admin_pb2.Workflow(
            id="w", state="WORKFLOW_STATE_SUCCEEDED", inputs_json=_nested(5_000), steps=[step]
        )
    )
    assert workflow.inputs == TOO_DEEP and workflow.steps[0].outputs == TOO_DEEP
    render(workflow.to_dict(), "yaml")


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_the_client_refuses_to_send_what_a_hub_would_refuse() -> None:
    client = PhotonClient(address="127.0.0.1:1", ca_pem=b"", token="t")  # never opened
    deeper = "nested deeper than the limit max-input-depth (32)"
    for depth in (32, 10_000):  # 10,000: json.dumps itself gave up with RecursionError
        with pytest.raises(InvalidArgumentError) as info:
            await client.submit("echo", inputs={"a": _deep(depth)})
        assert str(info.value) == f"inputs: {deeper}"
        with pytest.raises(InvalidArgumentError) as info:
            await client.submit_workflow({"name": "w", "steps": [], "x": _deep(depth)})
        assert str(info.value) == f"workflow: {deeper}"
    with pytest.raises(InvalidArgumentError) as info:
        await client.submit_workflow({"name": "w"}, inputs={"big": "x" * 1_048_576})
    assert str(info.value) == "inputs: size exceeds the limit max-input-bytes (1048587 > 1048576)"
    with pytest.raises(InvalidArgumentError, match=r"^inputs: Object of type set"):
        await client.submit("echo", inputs={"s": {1}})
