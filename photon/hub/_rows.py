"""Record <-> column conversions shared by the store implementations."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..model import FailureClass
from ._store import Failure, RetryPolicy, TaskSpec


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def spec_to_json(spec: TaskSpec) -> str:
    return dumps(
        {
            "tool": spec.tool,
            "action": spec.action,
            "inputs": dict(spec.inputs),
            "selector": spec.selector,
            "agent": spec.agent,
            "priority": spec.priority,
            "timeout": spec.timeout,
            "queue_timeout": spec.queue_timeout,
            "retry": {
                "max_attempts": spec.retry.max_attempts,
                "initial_backoff": spec.retry.initial_backoff,
                "multiplier": spec.retry.multiplier,
                "max_backoff": spec.retry.max_backoff,
            },
            "idempotency_key": spec.idempotency_key,
            "locks": list(spec.locks),
            "env": dict(spec.env),
            "labels": dict(spec.labels),
        }
    )


def spec_from_json(text: str) -> TaskSpec:
    raw: dict[str, Any] = json.loads(text)
    raw["retry"] = RetryPolicy(**raw["retry"])
    raw["locks"] = tuple(raw["locks"])
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
