"""A harness for plugin authors: a fake task context and a conformance suite.

Use them in a plugin's own tests, with no agent or hub running::

    from photon.plugins.testing import FakeTaskContext, check_conformance

    async def test_conforms() -> None:
        await check_conformance(MyPlugin(), sample_inputs={"greet": {"name": "Ada"}})

    async def test_greets(tmp_path) -> None:
        ctx = FakeTaskContext(action="greet", inputs={"name": "Ada"}, workdir=tmp_path)
        assert await MyPlugin().run(ctx) == {"greeting": "Hello, Ada!"}
        assert ctx.events == [("log", "greeting Ada", {})]
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ..errors import TaskFailed
from ..model import FailureClass
from ._api import Detection, Plugin, TaskContext, _mask
from ._discovery import _contract_problem

__all__ = ["FakeTaskContext", "check_conformance"]

Event = tuple[str, str, dict[str, Any]]

_TOOL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class FakeTaskContext:
    """A TaskContext for tests: records what the plugin emits and lets the test cancel it.

    `events` holds (kind, message, data) tuples in order, with secret values already masked
    as the agent would. Without `workdir`, a fresh temporary directory is made and removed
    when the context is garbage-collected (pass pytest's `tmp_path` to keep it visible).
    """

    def __init__(
        self,
        *,
        inputs: Mapping[str, Any] | None = None,
        action: str = "",
        workdir: Path | None = None,
        settings: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        deadline: float | None = None,
        task_id: str = "test-task",
    ) -> None:
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="photon-test-"))
            weakref.finalize(self, shutil.rmtree, workdir, ignore_errors=True)
        self._task_id = task_id
        self._action = action
        self._inputs = dict(inputs or {})
        self._workdir = workdir
        self._settings = dict(settings or {})
        self._secrets = dict(secrets or {})
        self._env = dict(env or {})
        self._deadline = deadline
        self._cancelled = asyncio.Event()
        self.events: list[Event] = []

    @property
    def task_id(self) -> str:
        return self._task_id

    @property
    def action(self) -> str:
        return self._action

    @property
    def inputs(self) -> Mapping[str, Any]:
        return self._inputs

    @property
    def workdir(self) -> Path:
        return self._workdir

    @property
    def secrets(self) -> Mapping[str, str]:
        return self._secrets

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    @property
    def settings(self) -> Mapping[str, Any]:
        return self._settings

    @property
    def deadline(self) -> float | None:
        return self._deadline

    @property
    def cancelled(self) -> asyncio.Event:
        return self._cancelled

    def cancel(self) -> None:
        """Cancel the task, as the hub would: the plugin should stop and raise CANCELLED."""
        self._cancelled.set()

    def emit(self, kind: str, message: str = "", /, **data: Any) -> None:
        values = sorted({v for v in self._secrets.values() if v}, key=len, reverse=True)
        self.events.append(
            (kind, _mask(message, values), {k: _mask(v, values) for k, v in data.items()})
        )

    def mask(self, value: Any) -> Any:
        values = sorted({v for v in self._secrets.values() if v}, key=len, reverse=True)
        return _mask(value, values)

    def messages(self, kind: str = "log") -> list[str]:
        """The messages of the events of one kind, in order."""
        return [message for k, message, _ in self.events if k == kind]

    def __repr__(self) -> str:
        return f"FakeTaskContext(action={self._action!r}, workdir={str(self._workdir)!r})"


async def check_conformance(
    plugin: Plugin,
    *,
    sample_inputs: Mapping[str, Mapping[str, Any]] | None = None,
    settings: Mapping[str, Any] | None = None,
    time_limit: float = 60.0,
) -> None:
    """Check that `plugin` keeps the plugin contract; raises AssertionError saying what is wrong.

    Checks: the attributes the agent loads a plugin by (name, version, api_version equal to
    PLUGIN_API_VERSION, actions, default_action among them, enabled_by_default, async detect
    and run); action names unique; each action's input_schema a well-formed JSON Schema for an
    object; detect() returning a Detection without raising. For each action in `sample_inputs`
    the plugin is run once on a FakeTaskContext (a fresh temporary workdir, `settings`): it must
    return a JSON-serialisable mapping or raise TaskFailed with a FailureClass, emit events of
    (str kind, str message, JSON data), and finish within `time_limit` seconds (the context's
    deadline is set to it too).
    """
    try:
        name = getattr(plugin, "name", None)
        problem = _contract_problem(str(name), plugin)
    except Exception as exc:
        raise AssertionError(f"plugin {name!r}: an attribute raised {_describe(exc)}") from exc
    if problem is not None:
        raise AssertionError(problem)
    label = f"plugin {name!r}"
    if not _TOOL_NAME.fullmatch(plugin.name):
        raise AssertionError(
            f"{label}: name should be lowercase letters, digits and ._- (at most 64 chars)"
        )
    if not plugin.version.strip():
        raise AssertionError(f"{label}: version is empty")
    actions = list(plugin.actions)
    if not actions:
        raise AssertionError(f"{label}: declares no actions")
    seen: set[str] = set()
    for action in actions:
        if not action.name or action.name in seen:
            raise AssertionError(f"{label}: action names must be non-empty and unique")
        seen.add(action.name)
        if action.input_schema:
            where = f"{label} action {action.name!r} input_schema"
            _check_input_schema(action.input_schema, where)

    try:
        async with asyncio.timeout(time_limit):
            detection = await plugin.detect()
    except TimeoutError:
        raise AssertionError(f"{label}: detect() did not return within {time_limit:g}s") from None
    except Exception as exc:
        raise AssertionError(f"{label}: detect() raised {_describe(exc)}") from exc
    if not isinstance(detection, Detection):
        raise AssertionError(
            f"{label}: detect() returned {type(detection).__name__}, not a Detection"
        )

    for action_name, inputs in (sample_inputs or {}).items():
        if action_name not in seen:
            raise AssertionError(f"sample_inputs names {action_name!r}, not an action of {label}")
        await _check_run(plugin, action_name, inputs, settings or {}, time_limit)


async def _check_run(
    plugin: Plugin,
    action: str,
    inputs: Mapping[str, Any],
    settings: Mapping[str, Any],
    time_limit: float,
) -> None:
    label = f"plugin {plugin.name!r} action {action!r}"
    with tempfile.TemporaryDirectory(prefix="photon-conformance-") as workdir:
        ctx = FakeTaskContext(
            action=action,
            inputs=inputs,
            workdir=Path(workdir),
            settings=settings,
            deadline=time.monotonic() + time_limit,
        )
        ctx_as_protocol: TaskContext = ctx  # FakeTaskContext must stay a TaskContext
        try:
            # A margin over the deadline: the plugin is meant to notice the deadline itself.
            async with asyncio.timeout(time_limit + min(time_limit, 5.0)):
                outputs = await plugin.run(ctx_as_protocol)
        except TaskFailed as failure:
            if not isinstance(failure.failure_class, FailureClass):
                raise AssertionError(
                    f"{label}: raised TaskFailed with failure_class "
                    f"{failure.failure_class!r}, not a FailureClass"
                ) from failure
            outputs = None
        except TimeoutError:
            raise AssertionError(f"{label}: run() did not finish within {time_limit:g}s") from None
        except Exception as exc:
            raise AssertionError(
                f"{label}: run() raised {_describe(exc)}; "
                "raise TaskFailed with a failure class instead"
            ) from exc
        if outputs is not None:
            if not isinstance(outputs, Mapping):
                raise AssertionError(
                    f"{label}: run() returned {type(outputs).__name__}, not a mapping"
                )
            problem = _json_problem(outputs)
            if problem:
                raise AssertionError(f"{label}: outputs are not JSON-serialisable: {problem}")
        for kind, message, data in ctx.events:
            if not isinstance(kind, str) or not kind or not isinstance(message, str):
                raise AssertionError(
                    f"{label}: emitted an event with kind {kind!r} and message {message!r};"
                    " both must be strings (kind non-empty)"
                )
            problem = _json_problem(data)
            if problem:
                raise AssertionError(f"{label}: {kind} event data is not JSON: {problem}")


def _json_problem(value: object) -> str:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return ""


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- JSON Schema ---------------------------------------------------------------------------
# A structural check of the keywords of draft 2020-12 that needs no third-party validator, so
# the harness works on an agent-only install; it also catches typos (unknown keywords), which
# the meta-schema allows. Where jsonschema is installed (the hub's validator) the schema is
# checked against the draft 2020-12 meta-schema too.

_TYPES: Final = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})
_SCHEMA_KEYWORDS: Final = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_SCHEMA_MAP_KEYWORDS: Final = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_LIST_KEYWORDS: Final = ("allOf", "anyOf", "oneOf", "prefixItems")
_COUNT_KEYWORDS: Final = (
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minContains",
    "maxContains",
)
_NUMBER_KEYWORDS: Final = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_STRING_KEYWORDS: Final = (
    "$schema",
    "$id",
    "$ref",
    "$anchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "$comment",
    "title",
    "description",
    "format",
    "contentEncoding",
    "contentMediaType",
)
_BOOL_KEYWORDS: Final = ("uniqueItems", "deprecated", "readOnly", "writeOnly")
_ANY_KEYWORDS: Final = ("const", "default", "contentSchema", "$vocabulary")
_KNOWN: Final = frozenset(
    {
        *_SCHEMA_KEYWORDS,
        *_SCHEMA_MAP_KEYWORDS,
        *_SCHEMA_LIST_KEYWORDS,
        *_COUNT_KEYWORDS,
        *_NUMBER_KEYWORDS,
        *_STRING_KEYWORDS,
        *_BOOL_KEYWORDS,
        *_ANY_KEYWORDS,
        "type",
        "required",
        "enum",
        "examples",
        "pattern",
        "multipleOf",
        "dependentRequired",
        "definitions",
    }
)


def _check_input_schema(schema: Mapping[str, Any], where: str) -> None:
    if not isinstance(schema, Mapping):
        raise AssertionError(f"{where} must be a mapping, not {type(schema).__name__}")
    problem = _json_problem(schema)
    if problem:
        raise AssertionError(f"{where} is not JSON: {problem}")
    declared = schema.get("type", "object")
    if declared != "object" and not (isinstance(declared, list) and "object" in declared):
        raise AssertionError(f"{where}: inputs are a JSON object, so type must be 'object'")
    problem = _schema_problem(schema, "")
    if problem:
        raise AssertionError(f"{where}: {problem}")
    problem = _metaschema_problem(schema)
    if problem:
        raise AssertionError(f"{where}: {problem}")


def _metaschema_problem(schema: Mapping[str, Any]) -> str:
    """The hub checks inputs with jsonschema: where it is installed, the schema must compile."""
    try:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError
    except ImportError:  # an agent-only install: the structural check is what we have
        return ""
    try:
        Draft202012Validator.check_schema(dict(schema))
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        return f"{where}: {exc.message}" if where else exc.message
    return ""


def _schema_problem(schema: object, path: str) -> str:
    """What is wrong with `schema` (at `path`, like `properties.url`), or ""."""
    at = f"{path}: " if path else ""
    if isinstance(schema, bool):
        return ""
    if not isinstance(schema, Mapping):
        return f"{at}a schema must be an object or a boolean, not {type(schema).__name__}"
    for key, value in schema.items():
        if key not in _KNOWN and not str(key).startswith("x-"):
            return f"{at}unknown keyword {key!r} (a typo? vendor keywords start with 'x-')"
        sub = f"{path}.{key}" if path else str(key)
        problem = _keyword_problem(str(key), value, sub)
        if problem:
            return problem
    required = schema.get("required", ())
    properties = schema.get("properties", {})
    if schema.get("additionalProperties") is False and isinstance(properties, Mapping):
        missing = [r for r in required if r not in properties]
        if missing:
            return f"{at}required names {missing[0]!r}, which additionalProperties false forbids"
    return ""


def _keyword_problem(key: str, value: Any, path: str) -> str:
    if key == "type":
        names = value if isinstance(value, list) else [value]
        bad = [n for n in names if n not in _TYPES]
        if not names or bad or len(set(map(str, names))) != len(names):
            shown = bad[0] if bad else value
            return f"{path}: {shown!r} is not a JSON Schema type ({', '.join(sorted(_TYPES))})"
        return ""
    if key in _SCHEMA_KEYWORDS:
        return _schema_problem(value, path)
    if key in _SCHEMA_MAP_KEYWORDS or key == "definitions":
        if not isinstance(value, Mapping):
            return f"{path}: must map names to schemas"
        for name, sub in value.items():
            if key == "patternProperties" and (problem := _regex_problem(name, path)):
                return problem
            if problem := _schema_problem(sub, f"{path}.{name}"):
                return problem
        return ""
    if key in _SCHEMA_LIST_KEYWORDS:
        if not isinstance(value, list) or not value:
            return f"{path}: must be a non-empty list of schemas"
        for i, sub in enumerate(value):
            if problem := _schema_problem(sub, f"{path}[{i}]"):
                return problem
        return ""
    if key in _COUNT_KEYWORDS:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return "" if ok else f"{path}: must be a non-negative integer"
    if key in _NUMBER_KEYWORDS or key == "multipleOf":
        if not _is_number(value) or (key == "multipleOf" and value <= 0):
            return f"{path}: must be a {'positive ' if key == 'multipleOf' else ''}number"
        return ""
    if key in _STRING_KEYWORDS:
        return "" if isinstance(value, str) else f"{path}: must be a string"
    if key in _BOOL_KEYWORDS:
        return "" if isinstance(value, bool) else f"{path}: must be true or false"
    if key == "required":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not ok or len(set(value)) != len(value):
            return f"{path}: must be a list of unique property names"
        return ""
    if key in {"enum", "examples"}:
        return "" if isinstance(value, list) else f"{path}: must be a list"
    if key == "pattern":
        if not isinstance(value, str):
            return f"{path}: must be a string"
        return _regex_problem(value, path)
    if key == "dependentRequired":
        ok = isinstance(value, Mapping) and all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in value.values()
        )
        return "" if ok else f"{path}: must map names to lists of names"
    return ""


def _regex_problem(pattern: str, path: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"{path}: {pattern!r} is not a valid regular expression: {exc}"
    return ""


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
