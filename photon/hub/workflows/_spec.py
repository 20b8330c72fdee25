"""Workflow files (docs/workflows.md): parsing and submit-time validation, without I/O."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..._duration import parse_duration
from ..._selector import parse_selector
from ...errors import InvalidArgumentError
from ...model import RetryPolicy, TaskSpec, ToolInfo
from ..tasks import input_errors, resolve_action
from ._expressions import references

_STEP_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
_STEP_KEYS = frozenset(
    {
        "id",
        "name",
        "tool",
        "action",
        "inputs",
        "selector",
        "agent",
        "priority",
        "timeout",
        "queue_timeout",
        "retry",
        "locks",
        "env",
        "labels",
        "needs",
        "if",
        "for_each",
        "matrix",
    }
)
_WORKFLOW_KEYS = frozenset({"name", "inputs", "steps", "concurrency", "timeout", "description"})
MAX_FAN_OUT = 10_000


class Condition(StrEnum):
    """When a step runs, given how its dependencies ended."""

    SUCCESS = "success()"  # all dependencies succeeded (the default)
    FAILURE = "failure()"  # at least one dependency failed
    ALWAYS = "always()"  # whatever happened


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSpec:
    id: str
    task: TaskSpec
    needs: tuple[str, ...] = ()
    condition: Condition = Condition.SUCCESS
    for_each: Any = None  # a list, or an expression giving one
    matrix: Mapping[str, Sequence[Any]] | None = None

    @property
    def fans_out(self) -> bool:
        return self.for_each is not None or self.matrix is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowSpec:
    name: str
    steps: tuple[StepSpec, ...]
    inputs: Mapping[str, Any] = field(default_factory=dict)  # name -> default (None: required)
    concurrency: int | None = None
    timeout: float | None = None

    _index: dict[str, StepSpec] = field(init=False, repr=False, compare=False)
    order: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {s.id: s for s in self.steps})
        object.__setattr__(self, "order", tuple(topological_order(self.steps)))

    def step(self, step_id: str) -> StepSpec:
        return self._index[step_id]


def _fail(where: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{where}: {message}")


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise _fail(where, str(exc)) from None
    raise _fail(where, "must be a duration such as 90, 30s or 10m")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _fail(where, "must be a string or a list of strings")


def _string_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _fail(where, "must be a mapping")
    return {k: str(v) for k, v in value.items()}


def _selector(value: Any, where: str) -> str:
    if isinstance(value, Mapping):
        value = ",".join(f"{k}={v}" for k, v in value.items())
    if not isinstance(value, str):
        raise _fail(where, "must be a string like kind=local or a mapping")
    try:
        parse_selector(value)
    except InvalidArgumentError as exc:
        raise _fail(where, str(exc)) from None
    return value


def _retry(value: Any, where: str) -> RetryPolicy:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return RetryPolicy(max_attempts=value)
    if not isinstance(value, Mapping):
        raise _fail(where, "must be a number of attempts or a mapping")
    known = {"max_attempts", "initial_backoff", "multiplier", "max_backoff"}
    if unknown := set(value) - known:
        raise _fail(where, f"unknown key {sorted(unknown)[0]!r}")
    defaults = RetryPolicy()
    attempts = value.get("max_attempts", defaults.max_attempts)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        raise _fail(f"{where}.max_attempts", "must be a whole number of at least 1")
    multiplier = value.get("multiplier", defaults.multiplier)
    if not isinstance(multiplier, int | float) or isinstance(multiplier, bool) or multiplier < 1:
        raise _fail(f"{where}.multiplier", "must be a number of at least 1")
    return RetryPolicy(
        max_attempts=attempts,
        initial_backoff=_seconds(value.get("initial_backoff", 1), f"{where}.initial_backoff"),
        multiplier=float(multiplier),
        max_backoff=_seconds(value.get("max_backoff", 100), f"{where}.max_backoff"),
    )


def _step(raw: Any, index: int) -> StepSpec:
    if not isinstance(raw, Mapping):
        raise _fail(f"steps[{index}]", "must be a mapping")
    step_id = raw.get("id")
    if not isinstance(step_id, str) or not _STEP_ID.match(step_id):
        raise _fail(f"steps[{index}]", "needs an id of letters, digits, - and _")
    where = f"step {step_id!r}"
    if "idempotency_key" in raw:
        raise _fail(where, "idempotency_key is not a step field: the hub keys each step's tasks")
    if unknown := set(raw) - _STEP_KEYS:
        raise _fail(where, f"unknown field {sorted(unknown)[0]!r}")
    tool = raw.get("tool")
    if not isinstance(tool, str) or not tool:
        raise _fail(where, "tool is required")
    inputs = raw.get("inputs", {})
    if not isinstance(inputs, Mapping):
        raise _fail(f"{where} inputs", "must be a mapping")
    priority = raw.get("priority", 5)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 9:
        raise _fail(f"{where} priority", "must be a whole number from 0 to 9")
    condition_text = str(raw.get("if", Condition.SUCCESS.value)).strip()
    condition_text = condition_text.removeprefix("${{").removesuffix("}}").strip()
    try:
        condition = Condition(condition_text)
    except ValueError:
        raise _fail(f"{where} if", "must be success(), failure() or always()") from None
    matrix = raw.get("matrix")
    if matrix is not None and not (
        isinstance(matrix, Mapping)
        and matrix
        and all(isinstance(v, list) and v for v in matrix.values())
    ):
        raise _fail(f"{where} matrix", "must map names to non-empty lists")
    if matrix is not None and raw.get("for_each") is not None:
        raise _fail(where, "use either matrix or for_each, not both")
    task = TaskSpec(
        tool=tool,
        action=str(raw.get("action", "")),
        inputs=dict(inputs),
        selector=_selector(raw.get("selector", ""), f"{where} selector"),
        agent=str(raw.get("agent", "")),
        priority=priority,
        timeout=_seconds(raw["timeout"], f"{where} timeout") if "timeout" in raw else None,
        queue_timeout=_seconds(raw.get("queue_timeout", 300), f"{where} queue_timeout"),
        retry=_retry(raw["retry"], f"{where} retry") if "retry" in raw else RetryPolicy(),
        locks=_strings(raw.get("locks", []), f"{where} locks"),
        env=_string_map(raw.get("env", {}), f"{where} env"),
        labels=_string_map(raw.get("labels", {}), f"{where} labels"),
    )
    return StepSpec(
        id=step_id,
        task=task,
        needs=_strings(raw.get("needs", []), f"{where} needs"),
        condition=condition,
        for_each=raw.get("for_each"),
        matrix=matrix,
    )


def parse_workflow(data: Any) -> WorkflowSpec:
    """Build a workflow from a parsed YAML/JSON document and check its shape.

    Raises InvalidArgumentError naming the step and field: unknown fields, duplicate ids,
    unknown or cyclic `needs`, expressions referring to steps that are not ancestors.
    """
    if not isinstance(data, Mapping):
        raise InvalidArgumentError("a workflow must be a mapping with name and steps")
    if unknown := set(data) - _WORKFLOW_KEYS:
        raise InvalidArgumentError(f"workflow: unknown field {sorted(unknown)[0]!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("workflow: name is required")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise InvalidArgumentError("workflow: steps must be a non-empty list")
    steps = tuple(_step(raw, i) for i, raw in enumerate(raw_steps))
    ids = [s.id for s in steps]
    if duplicate := next((i for i in ids if ids.count(i) > 1), None):
        raise InvalidArgumentError(f"step {duplicate!r}: the id is used twice")
    inputs = data.get("inputs", {})
    if not isinstance(inputs, Mapping):
        raise InvalidArgumentError("workflow inputs: must be a mapping")
    defaults = {
        str(k): (v.get("default") if isinstance(v, Mapping) else v) for k, v in inputs.items()
    }
    concurrency = data.get("concurrency")
    if concurrency is not None and (
        not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
    ):
        raise InvalidArgumentError("workflow concurrency: must be a whole number of at least 1")
    timeout = _seconds(data["timeout"], "workflow timeout") if "timeout" in data else None
    spec = WorkflowSpec(
        name=name, steps=steps, inputs=defaults, concurrency=concurrency, timeout=timeout
    )
    _check_graph(spec)
    return spec


def ancestors(spec: WorkflowSpec, step_id: str) -> set[str]:
    found: set[str] = set()
    stack = list(spec.step(step_id).needs)
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(spec.step(current).needs)
    return found


def _check_graph(spec: WorkflowSpec) -> None:
    ids = {s.id for s in spec.steps}
    for step in spec.steps:
        for need in step.needs:
            if need not in ids:
                raise InvalidArgumentError(f"step {step.id!r}: needs unknown step {need!r}")
            if need == step.id:
                raise InvalidArgumentError(f"step {step.id!r}: needs itself")
    order = spec.order
    if len(order) != len(spec.steps):
        # Steps left out either sit on a cycle or merely depend on one: name only the former.
        cyclic = sorted(s for s in ids - set(order) if s in ancestors(spec, s))
        raise InvalidArgumentError(f"steps {', '.join(cyclic)} form a cycle through needs")
    for step in spec.steps:
        fields: list[tuple[str, Any]] = [("inputs", step.task.inputs), ("for_each", step.for_each)]
        try:
            paths = [(name, path) for name, value in fields for path in references(value)]
        except InvalidArgumentError as exc:
            raise _fail(f"step {step.id!r}", str(exc)) from None
        # Ancestors only where a step's outputs are referred to: long chains stay cheap.
        before = ancestors(spec, step.id) if any(p[0] == "steps" for _, p in paths) else set()
        for field_name, path in paths:
            _check_reference(spec, step, before, field_name, path)


def _check_reference(
    spec: WorkflowSpec, step: StepSpec, before: set[str], field_name: str, path: tuple[str, ...]
) -> None:
    where = f"step {step.id!r} {field_name}"
    root = path[0]
    if root == "inputs":
        if len(path) < 2 or path[1] not in spec.inputs:
            raise _fail(where, f"${{{{ {'.'.join(path)} }}}} names no workflow input")
    elif root == "steps":
        if len(path) < 3 or path[2] != "outputs":
            raise _fail(where, "refer to step outputs as steps.<id>.outputs.<key>")
        if path[1] not in before:
            raise _fail(
                where, f"${{{{ {'.'.join(path)} }}}} refers to {path[1]!r}, which is not in needs"
            )
    elif root == "item":
        if step.for_each is None or field_name == "for_each":
            raise _fail(where, "${{ item }} is only available in a for_each step")
    elif root == "matrix":
        if step.matrix is None or len(path) < 2 or path[1] not in step.matrix:
            raise _fail(where, f"${{{{ {'.'.join(path)} }}}} names no matrix key")
    else:
        raise _fail(where, f"unknown expression root {root!r} (inputs, steps, item, matrix)")


def topological_order(steps: Sequence[StepSpec]) -> list[str]:
    """Step ids in dependency order (file order among independent steps); steps on or after a
    cycle, or needing unknown steps, are left out."""
    position = {s.id: i for i, s in enumerate(steps)}
    waiting_on = {s.id: len(set(s.needs)) for s in steps}
    dependents: dict[str, list[str]] = {s.id: [] for s in steps}
    for step in steps:
        for need in set(step.needs):
            if need in dependents:
                dependents[need].append(step.id)
    # Wave by wave: every step whose needs are done, in file order, then the next wave.
    ready = [s.id for s in steps if not s.needs]
    order: list[str] = []
    while ready:
        order.extend(ready)
        unblocked = []
        for step_id in ready:
            for dependent in dependents[step_id]:
                waiting_on[dependent] -= 1
                if waiting_on[dependent] == 0:
                    unblocked.append(dependent)
        ready = sorted(unblocked, key=position.__getitem__)
    return order


def check_tools(spec: WorkflowSpec, tools: Iterable[ToolInfo]) -> WorkflowSpec:
    """Check each step's tool and action against what connected agents offer, and its inputs
    against the action's schema where they hold no expressions. Raises InvalidArgumentError."""
    capabilities = list(tools)
    known = {t.name for t in capabilities}
    checked = []
    for step in spec.steps:
        where = f"step {step.id!r}"
        if capabilities and step.task.tool not in known:
            raise _fail(where, f"unknown tool {step.task.tool!r} (no connected agent offers it)")
        try:
            task, schema = resolve_action(step.task, capabilities)
        except InvalidArgumentError as exc:
            raise _fail(where, str(exc)) from None
        static = not step.fans_out and not any(references(task.inputs))
        if static and schema and (problem := input_errors(schema, task.inputs)):
            raise _fail(where, problem)
        checked.append(replace(step, task=task))
    return replace(spec, steps=tuple(checked))


def resolve_inputs(spec: WorkflowSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """Workflow inputs with defaults applied. Raises InvalidArgumentError for unknown or
    missing ones."""
    if unknown := set(given) - set(spec.inputs):
        raise InvalidArgumentError(f"workflow has no input {sorted(unknown)[0]!r}")
    values = {**spec.inputs, **given}
    if missing := sorted(k for k, v in values.items() if v is None):
        raise InvalidArgumentError(f"workflow input {missing[0]!r} is required")
    return values


def expand_matrix(matrix: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    keys = list(matrix)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*matrix.values())]
