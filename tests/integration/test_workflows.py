"""Workflows through a real hub and agents: order, data, failure rules, fan-out, cancel, crashes."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from photon.client import PhotonClient, Task, Workflow

from .harness import HEARTBEAT, PYTHON, Mesh, free_port, terminal_transitions, wait_for


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / f"{document['name']}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def echo(step_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "tool": "echo", **fields}


def step_states(table: str) -> dict[str, str]:
    """Step id -> state from the table `photonctl workflow run|show` prints."""
    lines = table.strip().splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.split()[:3] == ["STEP", "TOOL", "STATE"]
    )
    return {line.split()[0]: line.split()[2] for line in lines[header + 1 :]}


async def step_tasks(client: PhotonClient, workflow: Workflow) -> dict[str, Task]:
    """Each single-task step's task, as the hub has it now."""
    tasks = {}
    for step in workflow.steps:
        assert len(step.task_ids) == 1, (step.id, step.task_ids)
        tasks[step.id] = await client.get_task(step.task_ids[0])
    return tasks


def assert_needs_finished_first(workflow: Workflow, tasks: dict[str, Task]) -> None:
    for step in workflow.steps:
        task = tasks[step.id]
        assert task.started_at is not None
        for need in step.needs:
            before = tasks[need]
            assert before.finished_at is not None
            assert task.created_at >= before.finished_at, (step.id, need)
            assert task.started_at >= before.finished_at, (step.id, need)


async def test_chain_and_diamond_run_in_order_and_pass_data(mesh: Mesh, tmp_path: Path) -> None:
    await mesh.agent("w1", "--slots", "4")
    await mesh.agent("w2", "--slots", "4")
    document = {
        "name": "ordered",
        "inputs": {"greeting": {"default": "hello"}, "who": "world"},
        "steps": [
            # A chain a -> b -> c handing values down.
            echo(
                "a",
                inputs={"sleep": 0.3, "msg": "${{ inputs.greeting }}", "who": "${{ inputs.who }}"},
            ),
            echo(
                "b",
                needs="a",
                inputs={
                    "sleep": 0.3,
                    "msg": "${{ steps.a.outputs.msg }}, ${{ steps.a.outputs.who }}",
                },
            ),
            echo("c", needs=["b"], inputs={"got": "${{ steps.b.outputs.msg }}!"}),
            # A diamond top -> (left, right) -> bottom; left is slow so right overlaps it.
            echo("top", inputs={"sleep": 0.3, "n": 2}),
            echo("left", needs="top", inputs={"sleep": 2, "n": "${{ steps.top.outputs.n }}"}),
            echo("right", needs="top", inputs={"side": "right", "of": "${{ steps.top.outputs }}"}),
            echo(
                "bottom",
                needs=["left", "right"],
                inputs={"pair": ["${{ steps.left.outputs.n }}", "${{ steps.right.outputs.side }}"]},
            ),
        ],
    }
    ran = mesh.ctl(
        "workflow", "run", str(write(tmp_path, document)), "--input", "who=photon", "-o", "json"
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["state"] == "SUCCEEDED"
    assert result["inputs"] == {"greeting": "hello", "who": "photon"}
    outputs = {s["id"]: s["outputs"] for s in result["steps"]}
    assert outputs["a"] == {"sleep": 0.3, "msg": "hello", "who": "photon"}
    assert outputs["b"]["msg"] == "hello, photon"
    assert outputs["c"] == {"got": "hello, photon!"}
    assert outputs["left"]["n"] == 2  # a whole expression keeps the type
    assert outputs["right"]["of"] == {"sleep": 0.3, "n": 2}
    assert outputs["bottom"] == {"pair": [2, "right"]}

    async with mesh.client() as client:
        workflow = await client.get_workflow(result["id"])
        tasks = await step_tasks(client, workflow)
    assert {t.state.value for t in tasks.values()} == {"SUCCEEDED"}
    assert_needs_finished_first(workflow, tasks)
    # Independent branches are not serialised.
    assert tasks["right"].started_at < tasks["left"].finished_at  # type: ignore[operator]
    assert tasks["bottom"].started_at >= tasks["left"].finished_at  # type: ignore[operator]


async def test_failed_step_skips_dependents_and_runs_failure_and_always_steps(
    mesh: Mesh, tmp_path: Path
) -> None:
    await mesh.agent("w1", "--slots", "4")
    document = {
        "name": "failing",
        "steps": [
            echo("ok", inputs={"x": 1}),
            echo("bad", needs="ok", retry=1, inputs={"fail": "boom"}),
            echo("after", needs="bad"),
            echo("later", needs="after"),
            echo("on_fail", needs="bad", inputs={"why": "bad failed"}, **{"if": "failure()"}),
            echo("cleanup", needs=["after", "bad"], **{"if": "${{ always() }}"}),
            echo("not_on_ok", needs="ok", **{"if": "failure()"}),
        ],
    }
    ran = mesh.ctl("workflow", "run", str(write(tmp_path, document)))
    assert ran.returncode == 1, ran.stderr
    header = ran.stdout.splitlines()[0]
    assert header.startswith("workflow failing (")
    assert "): FAILED - step bad failed: task " in header
    assert header.endswith("failed: boom")
    assert step_states(ran.stdout) == {
        "ok": "SUCCEEDED",
        "bad": "FAILED",
        "after": "SKIPPED",
        "later": "SKIPPED",
        "on_fail": "SUCCEEDED",
        "cleanup": "SUCCEEDED",
        "not_on_ok": "SKIPPED",
    }
    assert "bad FAILED" in ran.stderr  # progress lines while it ran
    assert "Traceback" not in ran.stderr
    workflow_id = header.split("(")[1].split(")")[0]

    async with mesh.client() as client:
        workflow = await client.get_workflow(workflow_id)
        bad = await client.get_task(workflow.step("bad").task_ids[0])
        on_fail = await client.get_task(workflow.step("on_fail").task_ids[0])
        cleanup = await client.get_task(workflow.step("cleanup").task_ids[0])
    assert workflow.state.value == "FAILED"
    assert (bad.state.value, bad.attempt) == ("FAILED", 1)  # retry: 1 means one attempt
    assert bad.failure is not None and bad.failure.message == "boom"
    for skipped in ("after", "later", "not_on_ok"):
        assert workflow.step(skipped).task_ids == ()
        assert "is false" in workflow.step(skipped).message
    assert on_fail.outputs == {"why": "bad failed"}
    assert bad.finished_at is not None
    assert on_fail.started_at >= bad.finished_at  # type: ignore[operator]
    assert cleanup.started_at >= bad.finished_at  # type: ignore[operator]

    succeeding = {"name": "succeeding", "steps": [echo("one"), echo("two", needs="one")]}
    ok = mesh.ctl("workflow", "run", str(write(tmp_path, succeeding)))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0].endswith(": SUCCEEDED")
    assert step_states(ok.stdout) == {"one": "SUCCEEDED", "two": "SUCCEEDED"}


async def test_fan_out_of_100_and_fan_in(mesh: Mesh, tmp_path: Path) -> None:
    await mesh.agent("w1", "--slots", "8")
    await mesh.agent("w2", "--slots", "8")
    document = {
        "name": "fan",
        "inputs": {"items": {"description": "what to fan out over"}},
        "steps": [
            echo("fan", for_each="${{ inputs.items }}", inputs={"i": "${{ item }}", "sleep": 0.1}),
            echo("gather", needs="fan", inputs={"all": "${{ steps.fan.outputs }}"}),
        ],
    }
    items = json.dumps(list(range(100)))
    ran = mesh.ctl(
        "workflow",
        "run",
        str(write(tmp_path, document)),
        "--input",
        f"items:={items}",
        "-o",
        "json",
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["state"] == "SUCCEEDED"
    fan, gather = result["steps"]
    assert len(fan["task_ids"]) == len(set(fan["task_ids"])) == 100
    assert fan["tasks_done"] == 100
    assert len(fan["agent_ids"]) == 2  # spread over both agents
    expected = [{"i": i, "sleep": 0.1} for i in range(100)]
    assert fan["outputs"] == expected  # in item order, whatever order they finished in
    assert gather["outputs"] == {"all": expected}

    async with mesh.client() as client:
        fan_tasks = [await client.get_task(t) for t in fan["task_ids"]]
        gather_task = await client.get_task(gather["task_ids"][0])
    assert {t.state.value for t in fan_tasks} == {"SUCCEEDED"}
    last_fan_end = max(t.finished_at or 0.0 for t in fan_tasks)
    assert gather_task.started_at >= last_fan_end  # type: ignore[operator]
    # 100 tasks of 0.1 s on 16 slots: they ran side by side, not one after another.
    overlapping = sum(
        1
        for t in fan_tasks
        if t.started_at < fan_tasks[0].finished_at and t.finished_at > fan_tasks[0].started_at  # type: ignore[operator]
    )
    assert overlapping > 1


async def test_matrix_of_two_by_three(mesh: Mesh) -> None:
    await mesh.agent("w1", "--slots", "8")
    document = {
        "name": "grid",
        "steps": [
            echo(
                "build",
                matrix={"os": ["linux", "mac"], "py": ["3.11", "3.12", "3.13"]},
                inputs={"target": "${{ matrix.os }}-py${{ matrix.py }}", "py": "${{ matrix.py }}"},
            ),
            echo("report", needs="build", inputs={"builds": "${{ steps.build.outputs }}"}),
        ],
    }
    async with mesh.client() as client:
        submitted = await client.submit_workflow(document)
        final = await asyncio.wait_for(client.wait_workflow(submitted.id), timeout=40)
    assert final.state.value == "SUCCEEDED"
    build = final.step("build")
    assert len(build.task_ids) == 6
    targets = [o["target"] for o in build.outputs]
    assert targets == [
        "linux-py3.11",
        "linux-py3.12",
        "linux-py3.13",
        "mac-py3.11",
        "mac-py3.12",
        "mac-py3.13",
    ]
    assert final.step("report").outputs == {"builds": build.outputs}


async def test_concurrency_caps_the_steps_running_at_once(mesh: Mesh) -> None:
    await mesh.agent("w1", "--slots", "8")
    document = {
        "name": "capped",
        "concurrency": 2,
        "steps": [echo(f"s{i}", inputs={"sleep": 0.3}) for i in range(6)],
    }
    async with mesh.client() as client:
        submitted = await client.submit_workflow(document)
        final = await asyncio.wait_for(client.wait_workflow(submitted.id), timeout=40)
        tasks = await step_tasks(client, final)
    assert final.state.value == "SUCCEEDED"
    spans = [(t.started_at, t.finished_at) for t in tasks.values()]
    most = max(
        sum(1 for start, end in spans if start <= at < end)  # type: ignore[operator]
        for at, _ in spans
    )
    assert most == 2  # side by side, never more than two


async def test_cancel_mid_run_cancels_the_running_step_and_skips_the_rest(
    mesh: Mesh, tmp_path: Path
) -> None:
    await mesh.agent("w1", "--slots", "4")
    document = {
        "name": "long",
        "steps": [
            echo("quick"),
            echo("long", inputs={"sleep": 30}),
            echo("next", needs="long"),
            echo("last", needs=["next", "quick"]),
            echo("finally", needs="long", **{"if": "always()"}),
        ],
    }
    started = mesh.ctl("workflow", "run", str(write(tmp_path, document)), "--detach")
    assert started.returncode == 0, started.stderr
    workflow_id = started.stdout.strip()

    async with mesh.client() as client:

        async def long_running() -> Task | None:
            workflow = await client.get_workflow(workflow_id)
            if workflow.step("quick").state.value != "SUCCEEDED":
                return None
            if not (task_ids := workflow.step("long").task_ids):
                return None
            task = await client.get_task(task_ids[0])
            return task if task.state.value == "RUNNING" else None

        long_task = await wait_for(long_running, timeout=30)
        cancel_started = time.monotonic()
        cancelled = mesh.ctl("workflow", "cancel", workflow_id)
        assert cancelled.returncode == 0, cancelled.stderr
        assert cancelled.stdout.splitlines()[0].endswith(": CANCELLED - cancelled by a user")

        async def agent_idle() -> bool:
            return (await client.get_agent("w1")).running_tasks == 0

        await wait_for(agent_idle, timeout=10)
        workflow = await client.get_workflow(workflow_id)
        task = await client.get_task(long_task.id)
        took = time.monotonic() - cancel_started
    assert took < 5, f"cancel took {took:.1f}s"
    assert workflow.state.value == "CANCELLED"
    assert {s.id: s.state.value for s in workflow.steps} == {
        "quick": "SUCCEEDED",
        "long": "CANCELLED",
        "next": "SKIPPED",
        "last": "SKIPPED",
        "finally": "SKIPPED",
    }
    assert task.state.value == "CANCELLED"
    assert task.failure is not None and task.failure.failure_class == "cancelled"
    assert workflow.step("long").task_ids == (long_task.id,)
    assert workflow.step("next").task_ids == ()

    shown = mesh.ctl("workflow", "show", workflow_id)
    assert shown.returncode == 0, shown.stderr
    assert step_states(shown.stdout)["long"] == "CANCELLED"
    again = mesh.ctl("workflow", "cancel", workflow_id)
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: workflow {workflow_id} has already ended (CANCELLED)"


async def test_hub_killed_mid_workflow_resumes_and_runs_each_step_once(mesh: Mesh) -> None:
    assert mesh.hub is not None
    mesh.hub.stop()
    mesh.mesh_port, mesh.api_port = free_port(), free_port()
    await mesh.start_hub()
    await mesh.agent("w1", "--slots", "4")
    steps = [echo("s1", inputs={"sleep": 1, "trail": "s1"})]
    for n in range(2, 6):
        trail = f"${{{{ steps.s{n - 1}.outputs.trail }}}} s{n}"
        steps.append(echo(f"s{n}", needs=f"s{n - 1}", inputs={"sleep": 1, "trail": trail}))
    document = {"name": "chain", "steps": steps}

    async with mesh.client() as client:
        workflow_id = (await client.submit_workflow(document)).id

        async def running_step() -> str | None:
            workflow = await client.get_workflow(workflow_id)
            running = [s.id for s in workflow.steps if s.state.value == "RUNNING"]
            return running[0] if running and running[0] in ("s2", "s3") else None

        killed_in = await wait_for(running_step, timeout=30, interval=0.02)
        mesh.hub.kill()

    await mesh.start_hub()
    async with mesh.client() as client:
        final = await asyncio.wait_for(client.wait_workflow(workflow_id), timeout=45)
        tasks = await step_tasks(client, final)
        listed = await client.list_tasks(limit=50)
    assert killed_in in ("s2", "s3")
    assert final.state.value == "SUCCEEDED", final.message
    assert final.step("s5").outputs["trail"] == "s1 s2 s3 s4 s5"
    assert {t.state.value for t in tasks.values()} == {"SUCCEEDED"}
    assert len(listed) == 5  # no step was started twice
    assert {t.id for t in listed} == {t.id for t in tasks.values()}
    counts = terminal_transitions(mesh.hub_dir)
    assert {counts[t.id] for t in tasks.values()} == {1}
    assert_needs_finished_first(final, tasks)


async def test_killed_agent_mid_step_retries_elsewhere(mesh: Mesh) -> None:
    # The survivor is drained until the doomed agent holds the step's task.
    survivor = await mesh.agent("survivor", "--slots", "4")
    assert mesh.ctl("agents", "drain", "survivor").returncode == 0
    doomed = await mesh.agent("doomed", "--slots", "4")
    document = {
        "name": "resilient",
        "steps": [
            echo("prep", inputs={"v": 1}),
            echo("work", needs="prep", inputs={"sleep": 3, "v": "${{ steps.prep.outputs.v }}"}),
            echo("post", needs="work", inputs={"v": "${{ steps.work.outputs.v }}"}),
        ],
    }
    async with mesh.client() as client:
        workflow_id = (await client.submit_workflow(document)).id

        async def work_running() -> Task | None:
            workflow = await client.get_workflow(workflow_id)
            if not (task_ids := workflow.step("work").task_ids):
                return None
            task = await client.get_task(task_ids[0])
            return task if task.state.value == "RUNNING" else None

        first = await wait_for(work_running, timeout=30)
        doomed_id = (await client.get_agent("doomed")).id
        assert first.agent_id == doomed_id
        await client.undrain_agent("survivor")
        doomed.kill()
        final = await asyncio.wait_for(
            client.wait_workflow(workflow_id), timeout=4 * HEARTBEAT + 3 + 30
        )
        survivor_id = (await client.get_agent("survivor")).id
        work = await client.get_task(first.id)
    assert survivor.popen is not None and survivor.popen.poll() is None
    assert final.state.value == "SUCCEEDED", final.message
    assert final.step("work").task_ids == (first.id,)  # the same task, retried
    assert (work.state.value, work.attempt, work.agent_id) == ("SUCCEEDED", 2, survivor_id)
    assert final.step("work").agent_ids == (survivor_id,)
    assert final.step("post").outputs == {"v": 1}
    assert terminal_transitions(mesh.hub_dir)[first.id] == 1


async def test_invalid_workflows_are_refused_at_submit(mesh: Mesh, tmp_path: Path) -> None:
    await mesh.agent("w1")
    cycle = {
        "name": "cycle",
        "steps": [echo("a", needs="c"), echo("b", needs="a"), echo("c", needs="b"), echo("d")],
    }
    refused = mesh.ctl("workflow", "run", str(write(tmp_path, cycle)))
    assert refused.returncode == 1
    assert refused.stderr == "error: steps a, b, c form a cycle through needs\n"

    unknown = {"name": "unknown", "steps": [echo("a"), {"id": "ask", "tool": "nope", "needs": "a"}]}
    refused = mesh.ctl("workflow", "run", str(write(tmp_path, unknown)))
    assert refused.returncode == 1
    assert refused.stderr == (
        "error: step 'ask': unknown tool 'nope' (no connected agent offers it)\n"
    )

    missing = {"name": "missing", "steps": [echo("a", inputs={"x": "${{ inputs.x }}"})]}
    refused = mesh.ctl("workflow", "run", str(write(tmp_path, missing)))
    assert refused.returncode == 1
    assert refused.stderr == "error: step 'a' inputs: ${{ inputs.x }} names no workflow input\n"

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nsteps:\n  - id: a\n    tool: [echo\n")
    refused = mesh.ctl("workflow", "run", str(broken))
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: {broken} is not valid YAML or JSON (line ")
    assert len(refused.stderr.splitlines()) == 1
    assert "Traceback" not in refused.stderr

    listed = mesh.ctl("workflow", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []  # nothing was started


async def test_json_output_and_listing(mesh: Mesh, tmp_path: Path) -> None:
    await mesh.agent("w1")
    document = {
        "name": "shown",
        "inputs": {"word": "hi"},
        "steps": [echo("say", inputs={"word": "${{ inputs.word }}"}), echo("then", needs="say")],
    }
    path = write(tmp_path, document)
    ran = mesh.ctl("workflow", "run", str(path), "-o", "json")
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == ""  # no progress lines mixed into machine output
    result = json.loads(ran.stdout)
    assert result["name"] == "shown"
    assert result["state"] == "SUCCEEDED"
    assert datetime.fromisoformat(result["finished_at"]) >= datetime.fromisoformat(
        result["created_at"]
    )
    assert [s["id"] for s in result["steps"]] == ["say", "then"]
    say = result["steps"][0]
    assert (say["tool"], say["action"]) == ("echo", "echo")  # the default action, filled in
    assert say["state"] == "SUCCEEDED"
    assert say["outputs"] == {"word": "hi"}
    assert len(say["task_ids"]) == 1 and say["tasks_done"] == 1
    assert result["steps"][1]["needs"] == ["say"]

    shown = mesh.ctl("workflow", "show", result["id"], "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == result

    detached = mesh.ctl(
        "workflow", "run", str(path), "--input", "word=yo", "--detach", "-o", "json"
    )
    assert detached.returncode == 0, detached.stderr
    second = json.loads(detached.stdout)
    assert second["state"] == "RUNNING"
    assert second["inputs"] == {"word": "yo"}
    async with mesh.client() as client:
        final = await asyncio.wait_for(client.wait_workflow(second["id"]), timeout=30)
    assert final.step("say").outputs == {"word": "yo"}

    listed = mesh.ctl("workflow", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {w["id"]: w for w in json.loads(listed.stdout)}
    assert set(rows) == {result["id"], second["id"]}
    assert {w["state"] for w in rows.values()} == {"SUCCEEDED"}
    table = mesh.ctl("workflow", "list")
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATE", "AGE", "MESSAGE"]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(rows)
    assert all(line.split()[1:3] == ["shown", "SUCCEEDED"] for line in lines[1:])


def ring(n: int) -> dict[str, Any]:
    return {"name": "ring", "steps": [echo(f"s{i}", needs=f"s{(i - 1) % n}") for i in range(n)]}


def far_chain(n: int) -> dict[str, Any]:
    """A chain whose steps refer to the first step's outputs (an ancestor, not a need) and
    whose last one to a step aside (not an ancestor: refused, once all else is checked)."""
    steps = [echo("aside"), echo("s0")]
    for i in range(1, n - 1):
        steps.append(echo(f"s{i}", needs=f"s{i - 1}", inputs={"x": "${{ steps.s0.outputs.x }}"}))
    steps[-1]["inputs"]["late"] = "${{ steps.aside.outputs.x }}"
    return {"name": "far", "steps": steps}


def dense(n: int) -> dict[str, Any]:
    """Each step needs the 100 before it (about 800 kB of JSON), the last one refers to a step
    that is not its ancestor."""
    document = far_chain(n)
    for i, step in enumerate(document["steps"][2:], start=1):
        step["needs"] = [f"s{j}" for j in range(max(0, i - 100), i)]
    return document


# Another client, in a process of its own (so that encoding 800 kB of JSON does not hold up the
# test's event loop): submits each document of the file it is given, over and over, and prints
# one line per answer.
SUBMITTER = """
import asyncio, json, sys
from photon.client import PhotonClient
from photon.errors import InvalidArgumentError

async def main():
    with open(sys.argv[1]) as file:
        documents = json.load(file)
    async with PhotonClient.from_context() as client:
        while True:
            for document in documents:
                try:
                    await client.submit_workflow(document)
                    print(json.dumps("accepted"), flush=True)
                except InvalidArgumentError as exc:
                    print(json.dumps(str(exc)), flush=True)

asyncio.run(main())
"""


async def test_checking_maximal_workflows_does_not_hold_up_other_clients(
    mesh: Mesh, tmp_path: Path
) -> None:
    # Before, the checks ran on the hub's event loop and took from 0.3 s (the ring) to 3.5 s
    # (the dense one) of CPU each, and every other call waited behind them: up to 6 s here.
    await mesh.agent("w1", "--slots", "4")
    not_needed = "refers to 'aside', which is not in needs"
    nasty = [
        (ring(1000), "steps s0, s1, s10, s100, s101, s102, s103, s104, s105, s106 and 990 more"),
        (far_chain(1000), f"step 's998' inputs: ${{{{ steps.aside.outputs.x }}}} {not_needed}"),
        (dense(1000), f"step 's998' inputs: ${{{{ steps.aside.outputs.x }}}} {not_needed}"),
        (ring(1001), "the number of steps exceeds the limit max-workflow-steps (1001 > 1000)"),
    ]
    documents = tmp_path / "nasty.json"
    documents.write_text(json.dumps([document for document, _ in nasty]))
    submitter = await asyncio.create_subprocess_exec(
        PYTHON, "-c", SUBMITTER, str(documents), env=mesh.env, stdout=asyncio.subprocess.PIPE
    )
    assert submitter.stdout is not None
    answers: list[str] = []
    latencies: list[float] = []
    try:
        answers.append(json.loads(await submitter.stdout.readline()))  # it is under way
        seen = len(answers)
        async with mesh.client() as client:
            for _ in range(3):  # the connection and the path to the agent, warmed up
                await client.run("echo")

            async def read_answers() -> None:
                assert submitter.stdout is not None
                while line := await submitter.stdout.readline():
                    answers.append(json.loads(line))

            async with asyncio.TaskGroup() as group:
                reading = group.create_task(read_answers())
                # At least 20 runs, and on until every document was checked twice meanwhile.
                while len(latencies) < 20 or len(answers) < seen + 2 * len(nasty):
                    started = time.perf_counter()
                    task = await client.run("echo")
                    latencies.append(time.perf_counter() - started)
                    assert task.state.value == "SUCCEEDED"
                    assert submitter.returncode is None, answers
                reading.cancel()
            listed = await client.list_workflows()
    finally:
        if submitter.returncode is None:
            submitter.kill()
        await submitter.wait()
    for index, answer in enumerate(answers):
        assert nasty[index % len(nasty)][1] in answer
        assert len(answer) < 200
    assert listed == []  # every one was refused
    shown = ", ".join(f"{s * 1000:.0f}" for s in sorted(latencies))
    checked = len(answers) - seen
    assert max(latencies) < 0.5, f"echo latencies in ms while {checked} were checked: {shown}"
