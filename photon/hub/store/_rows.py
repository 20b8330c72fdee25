"""Record <-> column conversions shared by the store implementations.

A task's spec is stored as one JSON object built from `TaskSpec`'s own fields, so a new field
needs no change here; a row written before a field existed reads back with its default.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from ...model import Failure, FailureClass, Isolation, RetryPolicy, TaskSpec, WorkspaceSpec

_SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(TaskSpec))
_RETRY_FIELDS = tuple(f.name for f in dataclasses.fields(RetryPolicy))


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def spec_to_json(spec: TaskSpec) -> str:
    # Field by field, not dataclasses.asdict: that deep-copies the inputs, for every insert.
    raw = {name: getattr(spec, name) for name in _SPEC_FIELDS}
    raw["retry"] = {name: getattr(spec.retry, name) for name in _RETRY_FIELDS}
    raw["locks"] = list(spec.locks)
    raw["fallback"] = list(spec.fallback)
    if spec.workspace is not None:
        raw["workspace"] = dataclasses.asdict(spec.workspace)
    return dumps(raw)


def spec_from_json(text: str) -> TaskSpec:
    raw: dict[str, Any] = {k: v for k, v in json.loads(text).items() if k in _SPEC_FIELDS}
    if "retry" in raw:
        raw["retry"] = RetryPolicy(**raw["retry"])
    for name in ("locks", "fallback"):
        if name in raw:
            raw[name] = tuple(raw[name])
    if raw.get("workspace") is not None:
        ws = raw["workspace"]
        raw["workspace"] = WorkspaceSpec(**ws | {"isolate": Isolation(ws["isolate"])})
    return TaskSpec(**raw)


def failure_to_json(failure: Failure | None) -> str | None:
    if failure is None:
        return None
    return dumps(
        {
            "failure_class": failure.failure_class.value,
            "message": failure.message,
            "retry_at": failure.retry_at,
        }
    )


def failure_from_json(text: str | None) -> Failure | None:
    if text is None:
        return None
    raw = json.loads(text)
    return Failure(
        failure_class=FailureClass(raw["failure_class"]),
        message=raw["message"],
        retry_at=raw["retry_at"],
    )


def mapping_from_json(text: str | None) -> Mapping[str, Any] | None:
    return None if text is None else json.loads(text)
