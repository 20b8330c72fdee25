"""photon.plugins.testing: the built-ins pass the conformance suite, and broken plugins do not."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from photon.errors import TaskFailed
from photon.plugins import PLUGIN_API_VERSION, Action, Detection, Plugin, TaskContext
from photon.plugins.builtin.echo import EchoPlugin
from photon.plugins.builtin.files import FilesPlugin
from photon.plugins.builtin.http import HttpPlugin
from photon.plugins.builtin.shell import ShellPlugin
from photon.plugins.testing import FakeTaskContext, check_conformance

# --- the built-ins --------------------------------------------------------------------------


async def test_echo_conforms() -> None:
    await check_conformance(EchoPlugin(), sample_inputs={"echo": {"message": "hi", "fail": "boom"}})


async def test_shell_conforms() -> None:
    await check_conformance(ShellPlugin(), sample_inputs={"run": {"argv": ["true"]}})


async def test_files_conforms() -> None:
    await check_conformance(
        FilesPlugin(),
        sample_inputs={
            "write": {"path": "a/b.txt", "content": "x", "make_dirs": True},
            "read": {"path": "missing.txt"},  # a classified failure is fine
            "list": {"recursive": True},
            "delete": {"path": "nothing"},
        },
    )


class _Ok(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def http_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


async def test_http_conforms(http_url: str) -> None:
    # The local server is a loopback address: the agent must allow it.
    await check_conformance(
        HttpPlugin(),
        sample_inputs={"request": {"url": http_url}},
        settings={"allow_networks": ["127.0.0.1/32"]},
    )


# --- FakeTaskContext ----------------------------------------------------------------------


def test_fake_context_is_a_task_context_with_a_temporary_workdir() -> None:
    ctx: TaskContext = FakeTaskContext(inputs={"a": 1}, action="go", settings={"model": "m"})
    workdir = ctx.workdir
    assert workdir.is_dir()
    assert (ctx.inputs, ctx.action, ctx.settings, ctx.secrets) == (
        {"a": 1},
        "go",
        {"model": "m"},
        {},
    )
    assert ctx.deadline is None
    del ctx
    gc.collect()
    assert not workdir.exists()


def test_fake_context_keeps_a_given_workdir(tmp_path: Path) -> None:
    ctx = FakeTaskContext(workdir=tmp_path)
    assert ctx.workdir == tmp_path
    del ctx
    gc.collect()
    assert tmp_path.is_dir()


def test_fake_context_records_masked_events() -> None:
    ctx = FakeTaskContext(secrets={"TOKEN": "s3cret"})
    ctx.emit("log", "using s3cret", stream="stdout")
    ctx.emit("usage", input_tokens=3, header={"auth": "Bearer s3cret"})
    assert ctx.events == [
        ("log", "using ***", {"stream": "stdout"}),
        ("usage", "", {"input_tokens": 3, "header": {"auth": "Bearer ***"}}),
    ]
    assert ctx.messages() == ["using ***"]
    assert ctx.messages("usage") == [""]
    assert "s3cret" not in repr(ctx)


async def test_fake_context_cancel_sets_the_event() -> None:
    ctx = FakeTaskContext()
    assert not ctx.cancelled.is_set()
    ctx.cancel()
    assert ctx.cancelled.is_set()


# --- what the suite catches -------------------------------------------------------------


class Good:
    name = "good"
    version = "1.0"
    api_version = PLUGIN_API_VERSION
    actions: tuple[Action, ...] = (
        Action(
            name="go",
            input_schema={
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 0}},
                "required": ["n"],
                "additionalProperties": False,
            },
        ),
    )
    default_action = "go"
    enabled_by_default = True

    async def detect(self) -> Detection:
        return Detection(available=True)

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        ctx.emit("log", "going", n=ctx.inputs.get("n"))
        return {"n": ctx.inputs.get("n")}


def with_schema(schema: Mapping[str, Any]) -> Good:
    plugin = Good()
    plugin.actions = (Action(name="go", input_schema=schema),)
    return plugin


async def test_the_good_plugin_passes() -> None:
    await check_conformance(Good(), sample_inputs={"go": {"n": 1}})


class WrongApi(Good):
    api_version = PLUGIN_API_VERSION + 1


class BadName(Good):
    name = "Bad Name"


class NoActions(Good):
    actions = ()
    default_action = "go"


class DuplicateActions(Good):
    actions = (Action(name="go"), Action(name="go"))


class EmptyVersion(Good):
    version = " "


class SyncRun(Good):
    def run(self, ctx: TaskContext) -> Mapping[str, Any]:  # type: ignore[override]
        return {}


class DetectRaises(Good):
    async def detect(self) -> Detection:
        raise RuntimeError("no binary")


class DetectReturnsBool(Good):
    async def detect(self) -> Detection:
        return True  # type: ignore[return-value]


class DetectHangs(Good):
    async def detect(self) -> Detection:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")


class RunRaises(Good):
    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        raise KeyError("prompt")


class RunReturnsList(Good):
    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        return ["x"]  # type: ignore[return-value]


class RunReturnsNonJson(Good):
    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        return {"when": time}


class RunHangs(Good):
    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        await asyncio.sleep(60)
        return {}


class BadFailureClass(Good):
    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        raise TaskFailed("nope", failure_class="quota")  # type: ignore[arg-type]


class BadEvent(Good):
    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        ctx.emit("log", "x", path=Path("/tmp"))
        return {}


class EmptyEventKind(Good):
    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        ctx.emit("")
        return {}


class PropertyRaises(Good):
    @property
    def version(self) -> str:  # type: ignore[override]
        raise RuntimeError("who knows")


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (WrongApi(), f"declares API version {PLUGIN_API_VERSION + 1}"),
        (BadName(), "plugin 'Bad Name': name should be lowercase letters"),
        (NoActions(), "has default action 'go', not one of its actions"),
        (DuplicateActions(), "action names must be non-empty and unique"),
        (EmptyVersion(), "plugin 'good': version is empty"),
        (SyncRun(), "run must be async"),
        (PropertyRaises(), "plugin 'good': an attribute raised RuntimeError: who knows"),
        (DetectRaises(), "plugin 'good': detect() raised RuntimeError: no binary"),
        (DetectReturnsBool(), "detect() returned bool, not a Detection"),
        (RunRaises(), "action 'go': run() raised KeyError: 'prompt'; raise TaskFailed"),
        (RunReturnsList(), "action 'go': run() returned list, not a mapping"),
        (RunReturnsNonJson(), "action 'go': outputs are not JSON-serialisable"),
        (BadFailureClass(), "raised TaskFailed with failure_class 'quota', not a FailureClass"),
        (BadEvent(), "action 'go': log event data is not JSON"),
        (EmptyEventKind(), "emitted an event with kind '' and message ''"),
    ],
)
async def test_broken_plugins_fail_with_a_clear_message(plugin: Plugin, message: str) -> None:
    with pytest.raises(AssertionError) as info:
        await check_conformance(plugin, sample_inputs={"go": {"n": 1}})
    assert message in str(info.value)


async def test_hanging_detect_and_run_are_reported() -> None:
    with pytest.raises(AssertionError, match=r"detect\(\) did not return within 0.1s"):
        await check_conformance(DetectHangs(), time_limit=0.1)
    with pytest.raises(AssertionError, match=r"run\(\) did not finish within 0.1s"):
        await check_conformance(RunHangs(), sample_inputs={"go": {}}, time_limit=0.1)


async def test_sample_inputs_must_name_an_action() -> None:
    with pytest.raises(AssertionError, match="sample_inputs names 'stop', not an action"):
        await check_conformance(Good(), sample_inputs={"stop": {}})


async def test_run_is_not_checked_without_sample_inputs() -> None:
    await check_conformance(RunRaises())


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "array"}, "inputs are a JSON object, so type must be 'object'"),
        ({"properties": {"n": {"type": "int"}}}, "properties.n.type: 'int' is not a JSON Schema"),
        ({"properties": {"n": {"type": []}}}, "properties.n.type: [] is not a JSON Schema type"),
        ({"properties": {"n": {"type": ["string", "string"]}}}, "is not a JSON Schema type"),
        ({"propertys": {}}, "unknown keyword 'propertys' (a typo?"),
        ({"properties": {"n": {"requird": True}}}, "properties.n: unknown keyword 'requird'"),
        ({"properties": []}, "properties: must map names to schemas"),
        ({"properties": {"n": 3}}, "properties.n: a schema must be an object or a boolean"),
        ({"required": "n"}, "required: must be a list of unique property names"),
        ({"required": ["n", "n"]}, "required: must be a list of unique property names"),
        (
            {"properties": {}, "required": ["n"], "additionalProperties": False},
            "required names 'n', which additionalProperties false forbids",
        ),
        (
            {"properties": {"s": {"minLength": -1}}},
            "properties.s.minLength: must be a non-negative",
        ),
        ({"properties": {"s": {"maximum": "9"}}}, "properties.s.maximum: must be a number"),
        ({"properties": {"s": {"multipleOf": 0}}}, "must be a positive number"),
        ({"properties": {"s": {"pattern": "("}}}, "is not a valid regular expression"),
        ({"patternProperties": {"(": {}}}, "is not a valid regular expression"),
        ({"properties": {"s": {"enum": "a"}}}, "properties.s.enum: must be a list"),
        ({"anyOf": []}, "anyOf: must be a non-empty list of schemas"),
        ({"anyOf": [{"type": "nope"}]}, "anyOf[0].type: 'nope' is not a JSON Schema type"),
        ({"properties": {"a": {"items": {"type": 1}}}}, "properties.a.items.type"),
        ({"description": 3}, "description: must be a string"),
        ({"properties": {"a": {"uniqueItems": "yes"}}}, "uniqueItems: must be true or false"),
        ({"dependentRequired": {"a": "b"}}, "dependentRequired: must map names to lists"),
        ({"default": {1, 2}}, "is not JSON"),
    ],
)
async def test_schema_mistakes_are_caught(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(AssertionError) as info:
        await check_conformance(with_schema(schema))
    text = str(info.value)
    assert text.startswith("plugin 'good' action 'go' input_schema")
    assert message in text


async def test_rich_valid_schemas_pass() -> None:
    await check_conformance(
        with_schema(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "title": "inputs",
                "properties": {
                    "url": {"type": "string", "pattern": "^https?://", "format": "uri"},
                    "n": {"type": ["integer", "null"], "minimum": 0, "exclusiveMaximum": 10},
                    "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                    "mode": {"enum": ["a", "b"], "default": "a"},
                    "any": True,
                    "x-ui": {"x-widget": "text"},
                },
                "patternProperties": {"^x_": {"type": "string"}},
                "oneOf": [{"required": ["url"]}, {"required": ["n"]}],
                "$defs": {"thing": {"type": "object"}},
                "required": ["url"],
                "x-vendor": 1,
            }
        )
    )


async def test_the_deadline_is_set_for_sample_runs() -> None:
    seen: list[float | None] = []

    class Watcher(Good):
        async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
            seen.append(ctx.deadline)
            return {}

    before = time.monotonic()
    await check_conformance(Watcher(), sample_inputs={"go": {}}, time_limit=5)
    assert seen[0] is not None and before + 4 < seen[0] < time.monotonic() + 6


async def test_schemas_are_also_checked_against_the_meta_schema_when_jsonschema_is_there() -> None:
    pytest.importorskip("jsonschema")
    # Passes the structural check; only the draft 2020-12 meta-schema knows contentSchema's shape.
    with pytest.raises(AssertionError) as info:
        await check_conformance(with_schema({"type": "object", "contentSchema": 3}))
    assert str(info.value).startswith("plugin 'good' action 'go' input_schema: contentSchema: 3 ")
