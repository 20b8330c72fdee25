"""`python -m bench.workflow_checks [--steps N] [--repeat R]`: what checking a workflow costs.

Times the hub's submit-time checks of a workflow document (`parse_workflow`, then
`check_tools` against an `echo` tool with an input schema) on the nastiest shapes we know, each
with `--steps` steps (default: the `max-workflow-steps` limit, raised if `--steps` is more, to
see how the checks scale), and prints one line per shape: the best of `--repeat` runs in
milliseconds of wall and of CPU time, and how the check ended. No hub, no I/O: the checks are
pure functions, so this is what a submission costs the hub before anything is stored. It runs
against older code too (without the `limits` parameter), to compare.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import time
from collections.abc import Callable
from typing import Any

from photon.errors import InvalidArgumentError
from photon.hub.core import DEFAULT_LIMITS, Limits
from photon.hub.workflows._spec import check_tools, parse_workflow
from photon.model import ActionInfo, ToolInfo

ECHO = ToolInfo(
    name="echo",
    default_action="echo",
    available=True,
    enabled=True,
    actions=(
        ActionInfo(
            name="echo",
            input_schema_json=json.dumps(
                {"type": "object", "properties": {"sleep": {"type": "number", "minimum": 0}}}
            ),
        ),
    ),
)


def _step(step_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "tool": "echo", **fields}


def _document(steps: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"name": "bench", "steps": steps, **fields}


def ring(n: int) -> dict[str, Any]:
    """Each step needs the previous one, the first needs the last: one cycle of n steps."""
    return _document([_step(f"s{i}", needs=f"s{(i - 1) % n}") for i in range(n)])


def chain_with_references(n: int) -> dict[str, Any]:
    """A chain; each step refers to its predecessor's outputs and to the first step's."""
    steps = [_step("s0", inputs={"sleep": 0})]
    for i in range(1, n):
        inputs = {
            "prev": f"${{{{ steps.s{i - 1}.outputs.x }}}}",
            "root": "${{ steps.s0.outputs.x }}",
        }
        steps.append(_step(f"s{i}", needs=f"s{i - 1}", inputs=inputs))
    return _document(steps)


def chain_far_references(n: int) -> dict[str, Any]:
    """A chain; each step refers to the outputs of the step two back (an ancestor, not a need)."""
    steps = [_step("s0"), _step("s1", needs="s0")]
    for i in range(2, n):
        steps.append(
            _step(f"s{i}", needs=f"s{i - 1}", inputs={"x": f"${{{{ steps.s{i - 2}.outputs.x }}}}"})
        )
    return _document(steps)


def fan_in(n: int) -> dict[str, Any]:
    """n - 1 independent steps and one that needs them all and refers to each one's outputs."""
    roots = [_step(f"s{i}", inputs={"sleep": 0}) for i in range(n - 1)]
    last = _step(
        "last",
        needs=[r["id"] for r in roots],
        inputs={r["id"]: f"${{{{ steps.{r['id']}.outputs.x }}}}" for r in roots},
    )
    return _document([*roots, last], concurrency=1)


def dense(n: int, width: int = 100) -> dict[str, Any]:
    """Each step needs the `width` before it and refers to the first step's outputs."""
    steps = [_step("s0")]
    for i in range(1, n):
        needs = [f"s{j}" for j in range(max(0, i - width), i)]
        steps.append(_step(f"s{i}", needs=needs, inputs={"x": "${{ steps.s0.outputs.x }}"}))
    return _document(steps)


def late_non_ancestor(n: int) -> dict[str, Any]:
    """A chain whose last step refers to a step that is not its ancestor (refused)."""
    document = chain_far_references(n - 1)
    document["steps"].append(_step("other"))
    document["steps"][-2]["inputs"]["y"] = "${{ steps.other.outputs.x }}"
    return document


def unterminated(_: int) -> dict[str, Any]:
    """One input of 1,500 characters: `${{ ` over and over, never closed."""
    return _document([_step("a", inputs={"x": "${{ " * 375})])


def unterminated_spaces(_: int) -> dict[str, Any]:
    """One input of 1,500 characters: `${{` and spaces, never closed."""
    return _document([_step("a", inputs={"x": "${{" + " " * 1497})])


def long_expression(_: int) -> dict[str, Any]:
    """One expression of 1,500 characters of spaces."""
    return _document([_step("a", inputs={"x": "${{" + " " * 1494 + "}}"})])


def oversized(_: int) -> dict[str, Any]:
    """100,000 steps in a ring."""
    return ring(100_000)


SHAPES: dict[str, Callable[[int], dict[str, Any]]] = {
    "ring": ring,
    "chain, refs to first": chain_with_references,
    "chain, refs two back": chain_far_references,
    "fan-in, refs to all": fan_in,
    "dense (100 needs each)": dense,
    "non-ancestor at the end": late_non_ancestor,
    "unterminated ${{ x1500": unterminated,
    "unterminated ${{ + spaces": unterminated_spaces,
    "1,500-char expression": long_expression,
    "100,000-step ring": oversized,
}


def _check(document: dict[str, Any], limits: Limits) -> str:
    if "limits" in inspect.signature(parse_workflow).parameters:
        spec = parse_workflow(document, limits=limits)
    else:  # the code before the limits came in, for comparison
        spec = parse_workflow(document)
    check_tools(spec, [ECHO])
    return "accepted"


def measure(document: dict[str, Any], repeat: int, limits: Limits) -> tuple[float, float, str]:
    """The best wall and CPU seconds of `repeat` checks, and how the check ended."""
    wall = cpu = float("inf")
    outcome = ""
    for _ in range(repeat):
        started, used = time.perf_counter(), time.thread_time()
        try:
            outcome = _check(document, limits)
        except InvalidArgumentError as exc:
            outcome = f"refused: {exc}"
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.thread_time() - used)
    return wall, cpu, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=DEFAULT_LIMITS.max_workflow_steps)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated shape names (substrings)")
    args = parser.parse_args()
    wanted = [w for w in args.only.split(",") if w]
    # More steps than the default limit allows: raise it, to see how the checks scale.
    steps = max(args.steps, DEFAULT_LIMITS.max_workflow_steps)
    limits = dataclasses.replace(DEFAULT_LIMITS, max_workflow_steps=steps)
    print(f"{'shape':<26} {'wall ms':>9} {'CPU ms':>9}  outcome")
    for name, make in SHAPES.items():
        if wanted and not any(w in name for w in wanted):
            continue
        wall, cpu, outcome = measure(make(args.steps), args.repeat, limits)
        if len(outcome) > 100:
            outcome = outcome[:97] + "..."
        print(f"{name:<26} {wall * 1000:>9.2f} {cpu * 1000:>9.2f}  {outcome}", flush=True)


if __name__ == "__main__":
    main()
