"""The agent's runner with plain values and fake plugins: no hub, no stream, no network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from photon.agent import AgentConfig
from photon.agent.runner import Assignment, AttemptRef, Progress, Runner, RunOutcome
from photon.agent.runner import _runner as runner_module
from photon.agent.tools import load_tools
from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins import PLUGIN_API_VERSION, Action, Detection, LoadedPlugins, TaskContext


class Waiter:
    """Emits a line, then waits for its cancellation signal, or `sleep` seconds when the input
    `deaf` says it ignores that signal."""

    name = "waiter"
    version = "1"
    api_version = PLUGIN_API_VERSION
    actions = (Action(name="wait"),)
    default_action = "wait"
    enabled_by_default = True

    async def detect(self) -> Detection:
        return Detection(available=True)

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        ctx.emit("log", "waiting", n=1)
        if ctx.inputs.get("deaf"):
            await asyncio.sleep(float(ctx.inputs["deaf"]))
            return {"slept": True}
        if ctx.inputs.get("quick"):
            return {"action": ctx.action, "inputs": dict(ctx.inputs)}
        await ctx.cancelled.wait()
        raise TaskFailed(f"{ctx.task_id} cancelled", failure_class=FailureClass.CANCELLED)


class Exploding(Waiter):
    name = "exploding"

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        raise RuntimeError("kaboom")


class Locked(Waiter):
    name = "locked"
    enabled_by_default = False


@dataclass
class Recorder:
    """The runner's reports, in order."""

    accepted: list[AttemptRef] = field(default_factory=list)
    progress: list[tuple[AttemptRef, Progress]] = field(default_factory=list)
    outcomes: asyncio.Queue[RunOutcome] = field(default_factory=asyncio.Queue)

    async def outcome(self) -> RunOutcome:
        return await asyncio.wait_for(self.outcomes.get(), timeout=10)


class Reports:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    def accepted(self, ref: AttemptRef) -> None:
        self._recorder.accepted.append(ref)

    def progress(self, ref: AttemptRef, event: Progress) -> None:
        self._recorder.progress.append((ref, event))

    def finished(self, outcome: RunOutcome) -> None:
        self._recorder.outcomes.put_nowait(outcome)


def ref(task_id: str = "t1", epoch: int = 1) -> AttemptRef:
    return AttemptRef(task_id=task_id, attempt=1, epoch=epoch)


def assignment(
    tool: str = "waiter", *, task_id: str = "t1", epoch: int = 1, **fields: Any
) -> Assignment:
    return Assignment(ref=ref(task_id, epoch), tool=tool, **fields)


@pytest.fixture
async def setup(tmp_path: Path) -> tuple[Runner, Recorder]:
    config = AgentConfig(data_dir=tmp_path)
    plugins = {p.name: p for p in (Waiter(), Exploding(), Locked())}
    toolbox = await load_tools(config, loaded=LoadedPlugins(plugins=plugins, errors={}))
    recorder = Recorder()
    return Runner(toolbox=toolbox, workdir=tmp_path, reports=Reports(recorder)), recorder


@asynccontextmanager
async def running(runner: Runner) -> AsyncIterator[None]:
    async with asyncio.TaskGroup() as group:
        group.create_task(runner.run())
        await runner.started.wait()
        yield
        await runner.drain(grace=0.0)


async def test_an_attempt_is_accepted_reports_progress_and_ends_once(
    setup: tuple[Runner, Recorder], tmp_path: Path
) -> None:
    runner, recorder = setup
    async with running(runner):
        runner.assign(assignment(inputs={"quick": True, "x": 1}))
        assert runner.running == [ref()]
        outcome = await recorder.outcome()
    assert recorder.accepted == [ref()]
    assert [(r, e.kind, e.message, dict(e.data)) for r, e in recorder.progress] == [
        (ref(), "log", "waiting", {"n": 1})
    ]
    assert outcome.ok and outcome.ref == ref()
    assert outcome.outputs == {"action": "wait", "inputs": {"quick": True, "x": 1}}
    assert outcome.started_at <= outcome.finished_at
    assert runner.running == []
    assert recorder.outcomes.empty()


@pytest.mark.parametrize(
    ("work", "failure_class", "message"),
    [
        (assignment("nope"), FailureClass.TOOL_MISSING, "tool 'nope' is not installed"),
        (assignment("locked"), FailureClass.TOOL_MISSING, "start it with --allow-tool"),
        (assignment(inputs=None), FailureClass.INVALID_INPUT, "inputs are not a JSON object"),
        (assignment("exploding"), FailureClass.TOOL_ERROR, "plugin exploding raised"),
    ],
)
async def test_what_cannot_run_fails_its_attempt_only(
    setup: tuple[Runner, Recorder], work: Assignment, failure_class: FailureClass, message: str
) -> None:
    runner, recorder = setup
    async with running(runner):
        runner.assign(work)
        outcome = await recorder.outcome()
        assert outcome.failure is not None
        assert outcome.failure.failure_class is failure_class
        assert message in outcome.failure.message
        assert outcome.outputs == {}
        # The runner goes on with the next attempt.
        runner.assign(assignment(task_id="t2", inputs={"quick": True}))
        assert (await recorder.outcome()).ok


async def test_before_run_and_after_stop_assignments_are_refused(
    setup: tuple[Runner, Recorder],
) -> None:
    runner, recorder = setup
    runner.assign(assignment())
    async with running(runner):
        pass
    runner.assign(assignment(task_id="t2"))
    for task_id in ("t1", "t2"):
        outcome = await recorder.outcome()
        assert outcome.ref.task_id == task_id
        assert outcome.failure is not None
        assert outcome.failure.failure_class is FailureClass.AGENT_LOST
        assert outcome.failure.message == "agent is shutting down"
    assert recorder.accepted == []


async def test_a_repeat_is_ignored_and_a_newer_epoch_replaces_the_attempt(
    setup: tuple[Runner, Recorder],
) -> None:
    runner, recorder = setup
    async with running(runner):
        runner.assign(assignment())
        runner.assign(assignment())  # delivered twice
        assert recorder.accepted == [ref()]
        runner.assign(assignment(epoch=2))
        stale = await recorder.outcome()
        assert stale.ref == ref(epoch=1)
        assert stale.failure is not None
        assert stale.failure.failure_class is FailureClass.CANCELLED
        # The old attempt ending did not take the new one's place with it.
        assert runner.running == [ref(epoch=2)]
        runner.cancel(ref(epoch=1))  # another epoch's cancel
        assert runner.running == [ref(epoch=2)]
        runner.cancel(ref(epoch=2))
        current = await recorder.outcome()
        assert current.ref == ref(epoch=2)
        assert current.failure is not None
        assert current.failure.failure_class is FailureClass.CANCELLED
    assert recorder.accepted == [ref(), ref(epoch=2)]


async def test_drain_waits_for_the_grace_then_cancels(setup: tuple[Runner, Recorder]) -> None:
    runner, recorder = setup
    async with asyncio.TaskGroup() as group:
        group.create_task(runner.run())
        await runner.started.wait()
        runner.assign(assignment(task_id="quick", inputs={"deaf": 0.05}))
        runner.assign(assignment(task_id="slow"))
        await runner.drain(grace=1.0)
    outcomes = {o.ref.task_id: o for o in [await recorder.outcome(), await recorder.outcome()]}
    assert outcomes["quick"].ok
    failure = outcomes["slow"].failure
    assert failure is not None
    assert failure.failure_class is FailureClass.CANCELLED
    assert outcomes["slow"].finished_at - outcomes["slow"].started_at >= 1.0


async def test_a_plugin_past_its_deadline_is_stopped_as_timed_out(
    setup: tuple[Runner, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "DEADLINE_GRACE", 0.05)
    runner, recorder = setup
    async with running(runner):
        runner.assign(assignment(inputs={"deaf": 30}, timeout=0.05))
        outcome = await recorder.outcome()
    assert outcome.failure is not None
    assert outcome.failure.failure_class is FailureClass.TIMEOUT
    assert outcome.failure.message == "waiter ran past its timeout"


# -- a task's env and its secrets ----------------------------------------------------------------


class Leaky(Waiter):
    """Hands back its env in every way a plugin can: an event, its outputs, its failure."""

    name = "leaky"

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        ctx.emit("log", f"token is {ctx.env.get('TOKEN')}")
        if ctx.inputs.get("fail"):
            raise TaskFailed(f"refused {ctx.env['TOKEN']}", failure_class=FailureClass.AUTH)
        return {"env": dict(ctx.env), "nested": [{"t": ctx.env["TOKEN"]}]}


@pytest.fixture
async def leaky(tmp_path: Path) -> tuple[Runner, Recorder]:
    config = AgentConfig(data_dir=tmp_path)
    toolbox = await load_tools(config, loaded=LoadedPlugins(plugins={"leaky": Leaky()}, errors={}))
    recorder = Recorder()
    return Runner(toolbox=toolbox, workdir=tmp_path, reports=Reports(recorder)), recorder


async def test_the_plugin_gets_the_env_with_secrets_substituted_and_masked_on_the_way_back(
    leaky: tuple[Runner, Recorder],
) -> None:
    runner, recorder = leaky
    env = {"TOKEN": "secret:tok", "PLAIN": "1"}
    async with running(runner):
        runner.assign(assignment("leaky", env=env, secrets={"tok": "hunter2"}))
        outcome = await recorder.outcome()
        runner.assign(
            assignment(
                "leaky", task_id="t2", env=env, secrets={"tok": "hunter2"}, inputs={"fail": 1}
            )
        )
        failed = await recorder.outcome()
    assert outcome.ok
    assert outcome.outputs == {"env": {"TOKEN": "***", "PLAIN": "1"}, "nested": [{"t": "***"}]}
    assert [e.message for _, e in recorder.progress] == ["token is ***", "token is ***"]
    assert failed.failure is not None
    assert failed.failure.failure_class is FailureClass.AUTH
    assert failed.failure.message == "refused ***"
    assert "hunter2" not in repr(assignment("leaky", env=env, secrets={"tok": "hunter2"}))


async def test_a_reference_without_its_secret_is_refused_before_the_plugin_runs(
    leaky: tuple[Runner, Recorder],
) -> None:
    runner, recorder = leaky
    async with running(runner):
        runner.assign(assignment("leaky", env={"TOKEN": "secret:tok"}))
        outcome = await recorder.outcome()
    assert outcome.failure is not None
    assert outcome.failure.failure_class is FailureClass.INVALID_INPUT
    assert outcome.failure.message == "env TOKEN: secret 'tok' was not sent with the task"
    assert recorder.progress == []
