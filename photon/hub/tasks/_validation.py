"""Submit-time checks of a task against what the connected agents say their tools accept."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ...errors import InvalidArgumentError
from ...model import TaskSpec, ToolInfo

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    # Imported at the first check, not at start: jsonschema and its dependencies (referencing,
    # attrs, rpds) add about 5 MB to the hub's resident memory, needed only once tasks come.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def input_errors(schema_json: str, inputs: Mapping[str, Any]) -> str | None:
    """One line naming the first offending field, or None when the inputs fit the schema."""
    from jsonschema.exceptions import best_match  # see _validator

    error = best_match(_validator(schema_json).iter_errors(dict(inputs)))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    return f"input {where}: {error.message}" if where else f"inputs: {error.message}"


def input_names(schema_json: str) -> frozenset[str] | None:
    """The inputs an action's schema names; None when it publishes none (it takes anything)."""
    properties = json.loads(schema_json).get("properties") if schema_json else None
    return frozenset(properties) if isinstance(properties, dict) else None


def resolve_action(spec: TaskSpec, tools: Iterable[ToolInfo]) -> tuple[TaskSpec, str]:
    """Fill in the tool's default action; return the spec and the action's input schema.

    Tools that no connected agent reports cannot be checked and pass unchanged.
    Raises InvalidArgumentError for an action the tool does not have.
    """
    capability = next((t for t in tools if t.name == spec.tool and t.actions), None)
    if capability is None:
        return spec, ""
    action_name = spec.action or capability.default_action
    action = next((a for a in capability.actions if a.name == action_name), None)
    if action is None:
        known = ", ".join(a.name for a in capability.actions)
        raise InvalidArgumentError(
            f"tool {spec.tool} has no action {action_name!r} (actions: {known})"
        )
    return replace(spec, action=action_name), action.input_schema_json


def check_spec(spec: TaskSpec, tools: Iterable[ToolInfo]) -> TaskSpec:
    """Fill in the tool's default action and check the inputs against the action's schema.

    Raises InvalidArgumentError naming the action or the field.
    """
    if spec.tool in spec.fallback or len(set(spec.fallback)) < len(spec.fallback):
        raise InvalidArgumentError("fallback: name each tool once, other than the task's own")
    if not all(spec.fallback):
        raise InvalidArgumentError("fallback: a tool name is empty")
    spec, schema = resolve_action(spec, tools)
    if schema and (problem := input_errors(schema, spec.inputs)) is not None:
        raise InvalidArgumentError(f"{spec.tool} {spec.action}: {problem}")
    return spec
