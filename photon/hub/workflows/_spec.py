"""Workflow files (docs/workflows.md): parsing and submit-time validation, without I/O."""

from __future__ import annotations

import copy
import itertools
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..._duration import parse_duration
from ..._repos import check_workspace, isolation
from ..._selector import parse_selector
from ...errors import InvalidArgumentError
from ...model import RetryPolicy, TaskSpec, ToolInfo, WorkspaceSpec
from ..core import DEFAULT_LIMITS, Limits, quote
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
        "continue",
        "fallback",
        "budget_usd",
        "workspace",
    }
)
_WORKFLOW_KEYS = frozenset(
    {"name", "inputs", "steps", "concurrency", "timeout", "description", "budget_usd"}
)
_NAMED = 10  # step ids an error lists before saying how many more
_PACE = 16  # steps looked at between two chances for other threads to run
_yield = getattr(os, "sched_yield", lambda: time.sleep(0))  # both let go of the interpreter


# What a stored document is held to: the hub accepted it once and must read it back whatever
# the limits have become since.
_STORED = replace(
    DEFAULT_LIMITS,
    max_input_depth=sys.maxsize,
    max_selector_length=sys.maxsize,
    max_workflow_steps=sys.maxsize,
    max_expression_length=sys.maxsize,
    max_fan_out=sys.maxsize,
)


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
    continues: str = ""  # the step whose task's AI session this step's tasks continue

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
    budget_usd: float | None = None  # no new steps once the steps have spent this

    _index: dict[str, StepSpec] = field(init=False, repr=False, compare=False)
    order: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {s.id: s for s in self.steps})
        object.__setattr__(self, "order", tuple(topological_order(self.steps)))

    def step(self, step_id: str) -> StepSpec:
        return self._index[step_id]

    def with_steps(self, steps: Sequence[StepSpec]) -> WorkflowSpec:
        """The workflow with its steps replaced by steps of the same ids and needs, in the same
        order: the dependency order is kept, not worked out again."""
        spec = copy.copy(self)
        object.__setattr__(spec, "steps", tuple(steps))
        object.__setattr__(spec, "_index", {s.id: s for s in spec.steps})
        return spec


def _pace(done: int) -> None:
    """After every _PACE steps, let another thread that waits for the interpreter run. The hub
    checks a big document in a worker thread, and its event loop would otherwise wait out the
    interpreter's switch interval (5 ms) every time it woke meanwhile. No more than a system
    call when nothing else runs (sched_yield, not sleep(0), which costs Linux's 50 µs of timer
    slack); never for a document of a few steps."""
    if done and done % _PACE == 0:
        _yield()


def _fail(where: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{where}: {message}")


def _named(text: Any) -> str:
    """A name from the document as an error quotes it: repr'd, and cut if long."""
    return repr(quote(str(text)))


def _listed(names: Sequence[str]) -> str:
    """A few names and how many more, for an error that would otherwise list thousands."""
    shown = ", ".join(names[:_NAMED])
    return shown if len(names) <= _NAMED else f"{shown} and {len(names) - _NAMED} more"


def _depth(value: Any) -> int:
    """How deeply lists and mappings nest in a value (a scalar: 0), without recursion."""
    if not _is_container(value):
        return 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, level = stack.pop()
        children = current.values() if isinstance(current, Mapping) else current
        deepest = max(deepest, level)
        stack.extend((c, level + 1) for c in children if _is_container(c))
    return deepest


def _is_container(value: Any) -> bool:
    # dict, list and str first: asking the Mapping ABC about every string is slow.
    if isinstance(value, dict | list):
        return True
    return not isinstance(value, str | int | float) and isinstance(value, Mapping)


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise _fail(where, quote(str(exc))) from None
    raise _fail(where, "must be a duration such as 90, 30s or 10m")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _fail(where, "must be a string or a list of strings")


def _workspace(value: Any, where: str) -> WorkspaceSpec:
    """A step's `workspace: {repo, ref, isolate}`."""
    if not isinstance(value, Mapping):
        raise _fail(where, "must be a mapping with repo (and ref, isolate)")
    if unknown := set(value) - {"repo", "ref", "isolate"}:
        raise _fail(where, f"unknown field {_named(min(map(str, unknown)))}")
    fields = {k: value.get(k, "") for k in ("repo", "ref", "isolate")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise _fail(where, "repo, ref and isolate must be strings")
    try:
        spec = WorkspaceSpec(
            repo=fields["repo"], ref=fields["ref"], isolate=isolation(fields["isolate"], "isolate")
        )
        check_workspace(spec, "")
    except InvalidArgumentError as exc:
        raise _fail(where, str(exc).removeprefix(".")) from None
    return spec


def _string_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _fail(where, "must be a mapping")
    return {k: str(v) for k, v in value.items()}


def _selector(value: Any, where: str, limits: Limits) -> str:
    if isinstance(value, Mapping):
        value = ",".join(f"{k}={v}" for k, v in value.items())
    if not isinstance(value, str):
        raise _fail(where, "must be a string like kind=local or a mapping")
    # Before parsing: the selector's parser is not linear in its text.
    limits.check("max_selector_length", len(value), where)
    try:
        parse_selector(value)
    except InvalidArgumentError as exc:
        raise _fail(where, quote(str(exc), limits)) from None
    return value


def _retry(value: Any, where: str) -> RetryPolicy:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return RetryPolicy(max_attempts=value)
    if not isinstance(value, Mapping):
        raise _fail(where, "must be a number of attempts or a mapping")
    known = {"max_attempts", "initial_backoff", "multiplier", "max_backoff"}
    if unknown := set(value) - known:
        raise _fail(where, f"unknown key {_named(min(map(str, unknown)))}")
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


def _fan_out(step_id: str, raw: Mapping[str, Any], limits: Limits) -> None:
    """Refuse a fan-out that is over the limit already in the file (a matrix, a written-out
    for_each list); one given by an expression is checked when the step starts."""
    matrix, for_each = raw.get("matrix"), raw.get("for_each")
    if matrix is not None:
        size = math.prod(len(v) for v in matrix.values())
        limits.check("max_fan_out", size, f"step {step_id!r} matrix: the fan-out")
    elif isinstance(for_each, list):
        limits.check("max_fan_out", len(for_each), f"step {step_id!r} for_each: the fan-out")


def _step(raw: Any, index: int, limits: Limits) -> StepSpec:
    if not isinstance(raw, Mapping):
        raise _fail(f"steps[{index}]", "must be a mapping")
    step_id = raw.get("id")
    if not isinstance(step_id, str) or not _STEP_ID.match(step_id):
        raise _fail(f"steps[{index}]", "needs an id of letters, digits, - and _")
    where = f"step {step_id!r}"
    if "idempotency_key" in raw:
        raise _fail(where, "idempotency_key is not a step field: the hub keys each step's tasks")
    if unknown := set(raw) - _STEP_KEYS:
        raise _fail(where, f"unknown field {_named(min(map(str, unknown)))}")
    for key, value in raw.items():
        limits.check("max_input_depth", _depth(value), f"{where} {key}: the nesting")
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
    _fan_out(step_id, raw, limits)
    task = TaskSpec(
        tool=tool,
        action=str(raw.get("action", "")),
        inputs=dict(inputs),
        selector=_selector(raw.get("selector", ""), f"{where} selector", limits),
        agent=str(raw.get("agent", "")),
        priority=priority,
        timeout=_seconds(raw["timeout"], f"{where} timeout") if "timeout" in raw else None,
        queue_timeout=_seconds(raw.get("queue_timeout", 300), f"{where} queue_timeout"),
        retry=_retry(raw["retry"], f"{where} retry") if "retry" in raw else RetryPolicy(),
        locks=_strings(raw.get("locks", []), f"{where} locks"),
        env=_string_map(raw.get("env", {}), f"{where} env"),
        labels=_string_map(raw.get("labels", {}), f"{where} labels"),
        fallback=_strings(raw.get("fallback", []), f"{where} fallback"),
        budget_usd=_dollars(raw["budget_usd"], f"{where} budget_usd")
        if "budget_usd" in raw
        else None,
        workspace=_workspace(raw["workspace"], f"{where} workspace")
        if "workspace" in raw
        else None,
    )
    continues = raw.get("continue", "")
    if not isinstance(continues, str):
        raise _fail(f"{where} continue", "must be the id of a step it needs")
    return StepSpec(
        id=step_id,
        task=task,
        needs=_strings(raw.get("needs", []), f"{where} needs"),
        condition=condition,
        for_each=raw.get("for_each"),
        matrix=matrix,
        continues=continues,
    )


def _dollars(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value) and value > 0:
            return float(value)
    raise _fail(where, "must be a positive number of dollars")


def parse_workflow(data: Any, *, limits: Limits | None = DEFAULT_LIMITS) -> WorkflowSpec:
    """Build a workflow from a parsed YAML/JSON document and check its shape.

    Raises InvalidArgumentError naming the step and field: unknown fields, duplicate ids,
    unknown or cyclic `needs`, expressions referring to steps that are not ancestors, and
    anything over `limits` (steps, nesting, expression and selector length, fan-out) — none
    when `limits` is None, for a document the hub stored after checking it. Pure, and linear in
    the document's size (with a bit per step referred to beyond its needs, see
    `_ancestors_among`), so it may run in a worker thread.
    """
    checked = _STORED if limits is None else limits
    if not isinstance(data, Mapping):
        raise InvalidArgumentError("a workflow must be a mapping with name and steps")
    if unknown := set(data) - _WORKFLOW_KEYS:
        raise InvalidArgumentError(f"workflow: unknown field {_named(min(map(str, unknown)))}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("workflow: name is required")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise InvalidArgumentError("workflow: steps must be a non-empty list")
    checked.check("max_workflow_steps", len(raw_steps), "workflow: the number of steps")
    parsed = []
    for i, raw in enumerate(raw_steps):
        _pace(i)
        parsed.append(_step(raw, i, checked))
    steps = tuple(parsed)
    ids = [s.id for s in steps]
    uses = Counter(ids)
    if duplicate := next((i for i in ids if uses[i] > 1), None):
        raise InvalidArgumentError(f"step {duplicate!r}: the id is used twice")
    inputs = data.get("inputs", {})
    if not isinstance(inputs, Mapping):
        raise InvalidArgumentError("workflow inputs: must be a mapping")
    checked.check("max_input_depth", _depth(inputs), "workflow inputs: the nesting")
    defaults = {
        str(k): (v.get("default") if isinstance(v, Mapping) else v) for k, v in inputs.items()
    }
    concurrency = data.get("concurrency")
    if concurrency is not None and (
        not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
    ):
        raise InvalidArgumentError("workflow concurrency: must be a whole number of at least 1")
    timeout = _seconds(data["timeout"], "workflow timeout") if "timeout" in data else None
    budget = data.get("budget_usd")
    spec = WorkflowSpec(
        name=name,
        steps=steps,
        inputs=defaults,
        concurrency=concurrency,
        timeout=timeout,
        budget_usd=None if budget is None else _dollars(budget, "workflow budget_usd"),
    )
    _check_graph(spec, checked)
    return spec


def ancestors(spec: WorkflowSpec, step_id: str) -> set[str]:
    """Every step `step_id` needs, directly or through others: O(steps + needs) per call, so
    the checks do not call it per step (see `_ancestors_among`)."""
    found: set[str] = set()
    stack = list(spec.step(step_id).needs)
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(spec.step(current).needs)
    return found


def _check_graph(spec: WorkflowSpec, limits: Limits) -> None:
    ids = spec._index
    for step in spec.steps:
        for need in step.needs:
            if need not in ids:
                raise _fail(f"step {step.id!r}", f"needs unknown step {_named(need)}")
            if need == step.id:
                raise InvalidArgumentError(f"step {step.id!r}: needs itself")
    if len(spec.order) != len(spec.steps):
        # Steps left out either sit on a cycle or merely depend on one: name only the former.
        cyclic = _on_cycles(spec, set(ids) - set(spec.order))
        raise InvalidArgumentError(f"steps {_listed(cyclic)} form a cycle through needs")
    _check_references(spec, limits)
    _check_continues(spec)


def _check_continues(spec: WorkflowSpec) -> None:
    """A step continues the session of a step it needs (directly or not) that runs one task
    of the same tool."""
    continuing = [s for s in spec.steps if s.continues]
    beyond = {s.id: {s.continues} for s in continuing if s.continues not in s.needs}
    above = _ancestors_among(spec, {k: v & spec._index.keys() for k, v in beyond.items()})
    for step in continuing:
        where = f"step {step.id!r} continue"
        target = spec._index.get(step.continues)
        if target is None:
            raise _fail(where, f"names unknown step {_named(step.continues)}")
        if step.continues not in step.needs and step.continues not in above.get(step.id, ()):
            raise _fail(where, f"step {step.continues!r} is not in its needs")
        if target.fans_out:
            raise _fail(
                where, f"step {step.continues!r} fans out: which of its sessions is unclear"
            )
        if target.task.tool != step.task.tool:
            raise _fail(
                where,
                f"step {step.continues!r} runs {target.task.tool}; a session of"
                f" {target.task.tool} cannot be continued by {step.task.tool}",
            )


def _on_cycles(spec: WorkflowSpec, left: set[str]) -> list[str]:
    """The steps of `left` (those the topological order left out) that lie on a cycle, sorted:
    the members of its strongly connected components of more than one step (no step needs
    itself by now). Tarjan's algorithm without recursion: O(steps + needs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[str] = []
    for root in (s.id for s in spec.steps if s.id in left):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(spec.step(root).needs))]
        while work:
            node, needs = work[-1]
            for need in needs:
                if need not in left:
                    continue
                if need not in index:
                    _pace(len(index))
                    index[need] = low[need] = len(index)
                    stack.append(need)
                    on_stack.add(need)
                    work.append((need, iter(spec.step(need).needs)))
                    break
                if need in on_stack:
                    low[node] = min(low[node], index[need])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.extend(component)
    return sorted(found)


_Reference = tuple[str, tuple[str, ...]]  # the field it is in, its path


def _check_references(spec: WorkflowSpec, limits: Limits) -> None:
    """Each expression's root, and that `steps.X` names an ancestor of its step. Errors come
    in file order, as one pass would give them."""
    found: list[tuple[StepSpec, list[_Reference]]] = []
    failure: InvalidArgumentError | None = None
    for done, step in enumerate(spec.steps):
        _pace(done)
        fields: list[tuple[str, Any]] = [("inputs", step.task.inputs), ("for_each", step.for_each)]
        try:
            paths = [(name, path) for name, value in fields for path in references(value, limits)]
        except InvalidArgumentError as exc:
            failure = _fail(f"step {step.id!r}", str(exc))
            break  # the steps after this one are not looked at
        found.append((step, paths))
    # A step's needs are its ancestors at once; only outputs of steps further up need a look
    # at the graph, all of them in one pass.
    beyond: dict[str, set[str]] = {}
    for step, paths in found:
        needs = set(step.needs)
        for _, path in paths:
            if len(path) > 2 and path[0] == "steps" and path[1] not in needs:
                if path[1] in spec._index:
                    beyond.setdefault(step.id, set()).add(path[1])
    above = _ancestors_among(spec, beyond)
    for done, (step, paths) in enumerate(found):
        _pace(done)
        before = above.get(step.id, set()).union(step.needs)
        for field_name, path in paths:
            _check_reference(spec, step, before, field_name, path)
    if failure is not None:
        raise failure


def _ancestors_among(spec: WorkflowSpec, wanted: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """For each step of `wanted`, which of the steps it names are its ancestors.

    One pass in dependency order with one bit per step named anywhere in `wanted`: a step's
    ancestors among those are the union of its needs' and of the needs themselves. That is
    O((steps + needs) * named / 64) machine-word operations, where a search of the graph for
    each step would be O(steps * (steps + needs)); a step's bits are dropped once every step
    that needs it has been seen, so a long chain holds only a few at a time.
    """
    named = {t for targets in wanted.values() for t in targets}
    if not named:
        return {}
    bit = {step_id: 1 << i for i, step_id in enumerate(named)}
    unseen = Counter(need for s in spec.steps for need in set(s.needs))  # followers still to see
    upward: dict[str, int] = {}  # step id -> its ancestors among `named`, and itself if named
    result: dict[str, set[str]] = {}
    for done, step_id in enumerate(spec.order):
        _pace(done)
        mine = 0
        for need in set(spec.step(step_id).needs):
            mine |= upward[need]
            unseen[need] -= 1
            if not unseen[need]:
                del upward[need]
        if step_id in wanted:
            result[step_id] = {t for t in wanted[step_id] if mine & bit[t]}
        if unseen[step_id]:
            upward[step_id] = mine | bit.get(step_id, 0)
    return result


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
        for done, step_id in enumerate(ready, start=len(order) - len(ready)):
            _pace(done)
            for dependent in dependents[step_id]:
                waiting_on[dependent] -= 1
                if waiting_on[dependent] == 0:
                    unblocked.append(dependent)
        ready = sorted(unblocked, key=position.__getitem__)
    return order


def check_tools(spec: WorkflowSpec, tools: Iterable[ToolInfo]) -> WorkflowSpec:
    """Check each step's tool and action against what connected agents offer, and its inputs
    against the action's schema where they hold no expressions. Raises InvalidArgumentError.
    Pure, like `parse_workflow`."""
    capabilities = list(tools)
    known = {t.name for t in capabilities}
    checked = []
    for done, step in enumerate(spec.steps):
        _pace(done)
        where = f"step {step.id!r}"
        if capabilities and step.task.tool not in known:
            raise _fail(
                where, f"unknown tool {_named(step.task.tool)} (no connected agent offers it)"
            )
        try:
            task, schema = resolve_action(step.task, capabilities)
        except InvalidArgumentError as exc:
            raise _fail(where, quote(str(exc))) from None
        static = not step.fans_out and not any(references(task.inputs))
        if static and schema and (problem := input_errors(schema, task.inputs)):
            raise _fail(where, quote(problem))
        checked.append(replace(step, task=task))
    return spec.with_steps(checked)


def resolve_inputs(spec: WorkflowSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """Workflow inputs with defaults applied. Raises InvalidArgumentError for unknown or
    missing ones."""
    if unknown := set(given) - set(spec.inputs):
        raise InvalidArgumentError(f"workflow has no input {_named(min(unknown))}")
    values = {**spec.inputs, **given}
    if missing := [k for k, v in values.items() if v is None]:
        raise InvalidArgumentError(f"workflow input {_named(min(missing))} is required")
    return values


def expand_matrix(matrix: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    keys = list(matrix)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*matrix.values())]
