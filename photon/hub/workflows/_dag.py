"""How a workflow's DAG moves on, without I/O: which steps start, are skipped or have finished,
the tasks a step fans out to, and how the workflow ends.

The workflow engine asks these as steps' tasks end and carries the answers out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from ...errors import InvalidArgumentError
from ...model import StepState, TaskSpec, TaskState, WorkflowState
from ..core import DEFAULT_LIMITS, Limits, StepRecord, TaskRecord
from ._expressions import substitute
from ._spec import Condition, StepSpec, WorkflowSpec, expand_matrix

_KEY_PREFIX = "wf"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepKey:
    """Which instance of which step a task runs; its idempotency key, written and read here."""

    workflow_id: str
    step_id: str
    index: int

    def __str__(self) -> str:
        # Neither ULIDs nor step ids contain a colon.
        return f"{_KEY_PREFIX}:{self.workflow_id}:{self.step_id}:{self.index}"

    @classmethod
    def parse(cls, key: str) -> StepKey | None:
        """The step key an idempotency key is, or None for any other key."""
        parts = key.split(":")
        if len(parts) != 4 or parts[0] != _KEY_PREFIX or not parts[3].isdigit():
            return None
        return cls(workflow_id=parts[1], step_id=parts[2], index=int(parts[3]))


class Readiness(Enum):
    WAIT = "wait"  # a dependency has not ended yet
    START = "start"
    SKIP = "skip"  # the step's condition is false


def readiness(spec: StepSpec, steps: Mapping[str, StepRecord]) -> Readiness:
    """Whether a waiting step starts, is skipped, or waits, from how its `needs` ended."""
    needs = [steps[n] for n in spec.needs]
    if not all(n.state.terminal for n in needs):
        return Readiness.WAIT
    ok = all(n.state is StepState.SUCCEEDED for n in needs)
    if spec.condition is Condition.ALWAYS:
        runs = True
    elif spec.condition is Condition.FAILURE:
        runs = not ok
    else:
        runs = ok
    return Readiness.START if runs else Readiness.SKIP


def at_concurrency_limit(spec: WorkflowSpec, running: int) -> bool:
    """True when the workflow runs as many steps at once as it allows (`running`: how many
    of its steps are RUNNING, which the engine counts as they change rather than scanning
    every step for every step it might start)."""
    limit = spec.concurrency
    return limit is not None and limit <= running


def instances(
    spec: StepSpec,
    *,
    inputs: Mapping[str, Any],
    steps: Mapping[str, StepRecord],
    limits: Limits = DEFAULT_LIMITS,
) -> list[TaskSpec]:
    """The task of each instance of a starting step: one, or one per `for_each` item or
    `matrix` combination, with expressions substituted. Raises InvalidArgumentError naming what
    has no value or fans out past max-fan-out (counted before anything is expanded)."""
    context: dict[str, Any] = {"inputs": dict(inputs), "steps": _Outputs(steps)}
    if spec.for_each is not None:
        items = substitute(spec.for_each, context)
        if not isinstance(items, list):
            raise InvalidArgumentError(f"for_each must give a list, got {type(items).__name__}")
        limits.check("max_fan_out", len(items), "the fan-out")
        contexts = [{**context, "item": item} for item in items]
    elif spec.matrix is not None:
        size = math.prod(len(values) for values in spec.matrix.values())
        limits.check("max_fan_out", size, "the fan-out")
        contexts = [{**context, "matrix": combo} for combo in expand_matrix(spec.matrix)]
    else:
        contexts = [context]
    return [replace(spec.task, inputs=substitute(dict(spec.task.inputs), c)) for c in contexts]


def keyed(workflow_id: str, step_id: str, specs: Iterable[TaskSpec]) -> list[TaskSpec]:
    """The instances' tasks as submitted: each keyed by its step instance and labelled."""
    return [
        replace(
            spec,
            idempotency_key=str(StepKey(workflow_id=workflow_id, step_id=step_id, index=index)),
            labels={**spec.labels, "workflow": workflow_id, "step": step_id},
        )
        for index, spec in enumerate(specs)
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class StepEnd:
    state: StepState
    outputs: Any
    message: str = ""


def step_end(spec: StepSpec, tasks: Iterable[TaskRecord]) -> StepEnd:
    """How a step ended once all its tasks have: SUCCEEDED if every one did, else FAILED
    naming the first that did not. A fanned-out step's outputs are the list of its tasks'."""
    ended = list(tasks)
    outputs: Any = [dict(t.outputs or {}) for t in ended]
    if not spec.fans_out:
        outputs = outputs[0]
    failed = next((t for t in ended if t.state is not TaskState.SUCCEEDED), None)
    if failed is None:
        return StepEnd(state=StepState.SUCCEEDED, outputs=outputs)
    why = failed.failure.message if failed.failure else failed.state.value
    return StepEnd(
        state=StepState.FAILED,
        outputs=outputs,
        message=f"task {failed.id} {failed.state.value.lower()}: {why}",
    )


def workflow_end(steps: Iterable[StepRecord]) -> tuple[WorkflowState, str]:
    """How a workflow ended once all its steps have: FAILED naming the first failed step,
    else SUCCEEDED."""
    failed = next((s for s in steps if s.state is StepState.FAILED), None)
    if failed is None:
        return WorkflowState.SUCCEEDED, ""
    return WorkflowState.FAILED, f"step {failed.step_id} failed: {failed.message}"


class _Outputs(Mapping[str, Mapping[str, Any]]):
    """`steps.<id>.outputs` for expressions, looked up when one asks (a long workflow would
    otherwise copy every step's outputs for each step it starts)."""

    def __init__(self, steps: Mapping[str, StepRecord]) -> None:
        self._steps = steps

    def __getitem__(self, step_id: str) -> Mapping[str, Any]:
        step = self._steps[step_id]
        if step.outputs is None:
            raise KeyError(step_id)
        return {"outputs": step.outputs}

    def __iter__(self) -> Iterator[str]:
        return (step_id for step_id, step in self._steps.items() if step.outputs is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)
