"""The stream's two ends keep what they convert within bounds: the agent never sends a report
too big or too deep for the stream (or for json.dumps), the hub keeps what an agent reports
within its limits and refuses tools it could not validate tasks against."""

from __future__ import annotations

import json
from typing import Any

import pytest

from photon.agent.runner import AttemptRef, Progress, RunOutcome
from photon.agent.session._convert import (
    assignment_from_proto,
    outcome_to_proto,
    progress_to_proto,
)
from photon.errors import InvalidArgumentError
from photon.hub.core import DEFAULT_LIMITS
from photon.hub.mesh._convert import (
    Bounds,
    outcome_from_proto,
    progress_from_proto,
    tools_from_proto,
)
from photon.model import Failure, FailureClass
from photon.v1 import common_pb2, mesh_pb2
from photon.wire import MAX_MESSAGE_BYTES

REF = AttemptRef(task_id="t", attempt=1, epoch=1)
BOUNDS = Bounds.of(DEFAULT_LIMITS)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_the_agent_hands_no_plugin_inputs_nested_deeper_than_it_reads() -> None:
    def assign(inputs_json: str) -> Any:
        spec = common_pb2.TaskSpec(tool="echo", inputs_json=inputs_json)
        return assignment_from_proto(mesh_pb2.Assign(spec=spec)).inputs

    assert assign(_nested(128)) == json.loads(_nested(128))
    assert assign(_nested(129)) is None  # the runner refuses it as invalid_input
    assert assign(_nested(100_000)) is None


def _outcome(outputs: Any) -> mesh_pb2.TaskResult:
    return outcome_to_proto(RunOutcome(ref=REF, outputs=outputs, started_at=1, finished_at=2))


def test_the_agent_sends_a_marker_for_outputs_it_cannot_send() -> None:
    assert json.loads(_outcome({"a": _deep(5_000)}).outputs_json) == {
        "omitted": "nested deeper than 128 levels"
    }
    huge = _outcome({"x": "y" * MAX_MESSAGE_BYTES})
    assert huge.ByteSize() < 1024
    assert json.loads(huge.outputs_json) == {"omitted": "4194313 bytes, more than 2097152"}
    loop: dict[str, Any] = {}
    loop["self"] = loop
    assert json.loads(_outcome(loop).outputs_json) == {"omitted": "Circular reference detected"}
    assert json.loads(_outcome({"when": {1, 2}}).outputs_json) == {"when": "{1, 2}"}


def test_the_agent_cuts_a_failure_or_an_event_too_big_to_send() -> None:
    failure = Failure(failure_class=FailureClass.TOOL_ERROR, message="e" * MAX_MESSAGE_BYTES)
    result = outcome_to_proto(RunOutcome(ref=REF, failure=failure, started_at=1, finished_at=2))
    assert result.ByteSize() < 100_000
    progress = progress_to_proto(
        REF,
        Progress(kind="log", message="m" * MAX_MESSAGE_BYTES, data={"x": "y" * 300_000}, time=1),
    )
    assert progress.ByteSize() < 100_000
    assert json.loads(progress.events[0].data_json) == {"omitted": "300009 bytes, more than 262144"}


def test_the_hub_keeps_an_agents_reports_within_its_limits() -> None:
    event = common_pb2.TaskEvent(kind="k" * 1000, message="m" * 100_000, data_json=_nested(40))
    progress = progress_from_proto(event, BOUNDS)
    assert progress.data == {"omitted": "nested deeper than the limit max-input-depth (32)"}
    assert len(progress.message) < 16_500 and len(progress.kind) < 100
    result = mesh_pb2.TaskResult(ok=True, outputs_json=json.dumps({"x": "y" * 1_100_000}))
    assert outcome_from_proto(result, BOUNDS).outputs == {
        "omitted": "size exceeds the limit max-output-bytes (1100009 > 1048576)"
    }
    failed = mesh_pb2.TaskResult(ok=False, failure=common_pb2.Failure(message="f" * 100_000))
    failure = outcome_from_proto(failed, BOUNDS).failure
    assert failure is not None and len(failure.message) < 16_500


def _tool(name: str = "echo", action: str = "run", schema: str = "") -> common_pb2.ToolCapability:
    return common_pb2.ToolCapability(
        name=name, actions=[common_pb2.ToolAction(name=action, input_schema_json=schema)]
    )


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        (_tool(name="echo\x1b[31m"), "tool name: has a control character"),
        (_tool(action="n" * 64), "tool 'echo': action name: length exceeds the limit"
         " max-name-length (64 > 63)"),
        (_tool(schema=_nested(33)), "tool 'echo' action 'run' input schema: nested deeper than"
         " the limit max-input-depth (32)"),
        (_tool(schema=json.dumps({"d": "x" * 70_000})), "tool 'echo' action 'run' input schema:"
         " size exceeds the limit max-schema-bytes (70009 > 65536)"),
        (_tool(schema="{"), "tool 'echo' action 'run' input schema is not valid JSON"),
        (_tool(schema="true"), "tool 'echo' action 'run' input schema must be a JSON object"),
    ],
)  # fmt: skip
def test_the_hub_refuses_tools_it_could_not_show_or_validate_against(
    tool: common_pb2.ToolCapability, message: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        tools_from_proto([tool], BOUNDS)
    assert str(info.value) == message


def test_the_hub_takes_ordinary_tools() -> None:
    schema = json.dumps({"type": "object", "properties": {"a": {"type": "string"}}})
    (tool,) = tools_from_proto([_tool(schema=schema)], BOUNDS)
    assert tool.name == "echo" and tool.actions[0].input_schema_json == schema
