"""Tasks in git workspaces, through a real hub and agent and real git: a worktree and branch
per task, the commit and its summary in the outputs, `tasks diff`, shared checkouts taking
turns, the errors for repositories and refs that cannot be used, and the cleanup policy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from photon.agent.workspaces import MAX_PATCH_BYTES
from photon.client import TaskEvent
from photon.errors import InvalidArgumentError
from photon.model import RetryPolicy

from .harness import Mesh, Proc, wait_for
from .test_adapters_claude_gemini import fake_env

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def make_repo(path: Path) -> str:
    """A repository with one commit on main (README.md) and a tag v1; its HEAD commit."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("hello\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "first")
    git(path, "tag", "v1")
    return git(path, "rev-parse", "HEAD")


async def start(
    mesh: Mesh, name: str, *, keep_days: float = 7, env: dict[str, str] | None = None
) -> tuple[Path, Proc]:
    """An agent that runs shell scripts and may use repositories under ROOT/src."""
    data_dir = mesh.join(name)
    write_config(mesh, data_dir, keep_days=keep_days)
    proc = mesh.start_agent(data_dir, "--slots", "4", env=env)
    await mesh.wait_agent_state(name, "connected")
    return data_dir, proc


def write_config(mesh: Mesh, data_dir: Path, *, keep_days: float) -> None:
    (data_dir / "agent.toml").write_text(
        f"workspace_roots = [{json.dumps(str(mesh.root / 'src'))}]\n"
        "[tools.shell]\nenabled = true\nscript = true\n"
        f"[workspaces]\nkeep_days = {keep_days}\n"
    )


def script(text: str) -> dict[str, str]:
    return {"script": text}


def clone_of(data_dir: Path) -> Path:
    [clone] = (data_dir / "repos").glob("*.git")
    return clone


async def test_parallel_tasks_work_in_worktrees_of_their_own(mesh: Mesh) -> None:
    origin = mesh.root / "src" / "web"
    head = make_repo(origin)
    data_dir, _ = await start(mesh, "w1")
    workspace = {"repo": str(origin), "ref": "main"}
    sync = mesh.root / "sync"
    sync.mkdir()
    async with mesh.client() as client:
        # Both start at once (4 slots) and wait for each other, so they overlap for sure.
        first, second = [
            await client.submit(
                "shell",
                "script",
                inputs=script(
                    f"echo {name} > {name}.txt; echo {name} >> README.md; touch {sync}/{name};"
                    f" while [ ! -e {sync}/{other} ]; do sleep 0.05; done"
                ),
                workspace=workspace,
                timeout=60,
            )
            for name, other in (("one", "two"), ("two", "one"))
        ]
        done = [await client.wait(t.id) for t in (first, second)]
    for task in done:
        assert task.state.value == "SUCCEEDED", task.failure
    one, two = (dict(t.outputs or {})["workspace"] for t in done)
    assert one["branch"] == f"photon/{first.id}" and two["branch"] == f"photon/{second.id}"
    assert one["base"] == two["base"] == head
    assert one["commit"] != two["commit"] and len(one["commit"]) == 40
    assert one["files_changed"] == ["README.md", "one.txt"]
    assert two["files_changed"] == ["README.md", "two.txt"]
    assert (one["insertions"], one["deletions"]) == (2, 0)
    assert "2 files changed, 2 insertions(+)" in one["diffstat"]
    assert "+one\n" in one["patch"] and "+two" not in one["patch"]
    assert one["patch_truncated"] is False
    assert one["repo"] == str(origin) and one["ref"] == "main"

    # The agent's clone has each branch and commit, made by the agent; the origin is untouched.
    clone = clone_of(data_dir)
    log = git(clone, "log", "-1", "--format=%an|%s|%P", one["branch"])
    assert log == f"PHOTON agent w1|photon: task {first.id} (shell)|{head}"
    assert git(clone, "show", f"{two['commit']}:README.md") == "hello\ntwo"
    assert git(origin, "rev-parse", "HEAD") == head
    assert git(origin, "status", "--porcelain") == ""
    assert git(origin, "branch", "--format=%(refname:short)") == "main"
    # A finished worktree is removed; its branch stays.
    assert list((data_dir / "worktrees").iterdir()) == []

    shown = mesh.ctl("tasks", "diff", first.id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == one["patch"] and "+++ b/one.txt" in shown.stdout
    # `tasks show` points at the patch rather than printing it (JSON keeps it whole).
    table = mesh.ctl("tasks", "show", first.id)
    lines = len(one["patch"].splitlines())
    assert f"patch:           {lines} lines: photonctl tasks diff {first.id}" in table.stdout
    assert "+++ b/one.txt" not in table.stdout and "diffstat:" in table.stdout
    as_json = json.loads(mesh.ctl("tasks", "show", first.id, "-o", "json").stdout)
    assert as_json["outputs"]["workspace"]["patch"] == one["patch"]
    async with mesh.client() as client:
        plain = await client.run("echo")
    refused = mesh.ctl("tasks", "diff", plain.id)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"error: task {plain.id} has no workspace (it was not run with --repo)"
    )


async def test_photonctl_runs_in_a_workspace_and_a_task_that_changes_nothing(mesh: Mesh) -> None:
    origin = mesh.root / "src" / "app"
    make_repo(origin)
    git(origin, "checkout", "-q", "-b", "feature")
    (origin / "feature.txt").write_text("new\n")
    git(origin, "add", "feature.txt")
    git(origin, "commit", "-q", "-m", "feature")
    feature = git(origin, "rev-parse", "HEAD")
    git(origin, "checkout", "-q", "main")
    await start(mesh, "w2")
    run = mesh.ctl(
        "run", "shell", "script", "--repo", f"file://{origin}", "--ref", "feature",
        "--input", "script=cat feature.txt; echo more >> feature.txt", "-o", "json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    task = json.loads(run.stdout)
    assert task["workspace"] == {
        "repo": f"file://{origin}",
        "ref": "feature",
        "isolate": "worktree",
    }
    outputs = task["outputs"]
    assert outputs["stdout"] == "new\n"
    assert outputs["workspace"]["base"] == feature
    assert outputs["workspace"]["files_changed"] == ["feature.txt"]

    # A tag, a commit id, and the default branch (no ref); nothing changed: no commit, no branch.
    async with mesh.client() as client:
        for ref in ("v1", feature[:12], ""):
            ended = await client.run(
                "shell", "script", inputs=script("ls"), workspace={"repo": str(origin), "ref": ref}
            )
            assert ended.state.value == "SUCCEEDED", ended.failure
            summary = dict(ended.outputs or {})["workspace"]
            assert (summary["commit"], summary["branch"], summary["files_changed"]) == ("", "", [])
            assert ("feature.txt" in str(dict(ended.outputs or {})["stdout"])) == (
                ref == feature[:12]
            )
    quiet = mesh.ctl("tasks", "diff", ended.id)
    assert quiet.returncode == 0 and quiet.stdout == ""
    assert quiet.stderr.strip() == f"photonctl: task {ended.id} changed nothing"

    # A patch past the bound is cut at a line end; the commit has it all.
    async with mesh.client() as client:
        big = await client.run(
            "shell",
            "script",
            inputs=script("seq 100000 > big.txt"),
            workspace={"repo": str(origin)},
        )
    summary = dict(big.outputs or {})["workspace"]
    assert summary["patch_truncated"] is True and summary["insertions"] == 100000
    assert len(summary["patch"].encode()) <= MAX_PATCH_BYTES
    assert summary["patch"].endswith("\n")
    cut = mesh.ctl("tasks", "diff", big.id)
    assert cut.returncode == 0 and cut.stdout == summary["patch"]
    assert cut.stderr.strip() == (
        f"photonctl: the patch was cut at {len(cut.stdout.encode())} bytes; the whole change is"
        f" commit {summary['commit']} on branch {summary['branch']} in the agent's clone"
    )


async def test_shared_checkouts_take_turns_under_the_repositorys_lock(mesh: Mesh) -> None:
    origin = mesh.root / "src" / "site"
    head = make_repo(origin)
    data_dir, _ = await start(mesh, "w3")
    async with mesh.client() as client:
        tasks = [
            await client.submit(
                "shell",
                "script",
                inputs=script(f"echo start {n} >> log.txt; sleep 0.5; echo end {n} >> log.txt"),
                # Spelled two ways: one repository, one lock.
                workspace={"repo": spelling, "isolate": isolate},
            )
            for n, spelling, isolate in (
                (1, str(origin), "shared"),
                (2, f"file://{origin}/", "none"),
                (3, str(origin) + "/.", "shared"),
            )
        ]
        done = [await client.wait(t.id) for t in tasks]
    for task in done:
        assert task.state.value == "SUCCEEDED", task.failure
        assert task.spec.locks == (f"repo:{origin}",)
    checkout = next((data_dir / "checkouts").iterdir())
    lines = (checkout / "log.txt").read_text().splitlines()
    # One after another, never interleaved, in some order.
    assert [line.split()[0] for line in lines] == ["start", "end"] * 3
    assert [lines[i].split()[1] for i in (0, 2, 4)] == [lines[i].split()[1] for i in (1, 3, 5)]
    summaries = sorted(
        (dict(t.outputs or {})["workspace"] for t in done), key=lambda s: s["insertions"]
    )
    # Each task starts where the one before it left the checkout.
    assert summaries[0]["base"] == head
    assert [s["base"] for s in summaries[1:]] == [s["commit"] for s in summaries[:-1]]
    assert {s["branch"] for s in summaries} == {"photon/shared"}
    assert git(origin, "status", "--porcelain") == ""

    # A failed shared task's changes are committed too, so the next one starts clean.
    shared = {"repo": str(origin), "isolate": "shared"}
    async with mesh.client() as client:
        failed = await client.run(
            "shell",
            "script",
            inputs=script("echo broken > half.txt; exit 1"),
            workspace=shared,
            retry=RetryPolicy(max_attempts=1),
        )
        after = await client.run(
            "shell",
            "script",
            inputs=script("git status --porcelain; git log -1 --format=%s; cat half.txt"),
            workspace=shared,
        )
    assert failed.state.value == "FAILED" and after.state.value == "SUCCEEDED"
    assert failed.failure is not None and "worktree is kept" not in failed.failure.message
    assert dict(after.outputs or {})["stdout"] == (
        f"photon: task {failed.id} (shell), which failed\nbroken\n"
    )


async def test_unusable_repositories_and_refs_fail_with_one_clear_line(mesh: Mesh) -> None:
    origin = mesh.root / "src" / "lib"
    make_repo(origin)
    (mesh.root / "src" / "plain").mkdir()
    outside = mesh.root / "elsewhere"
    make_repo(outside)
    await start(mesh, "w4")
    cases = {
        (str(origin), "nope"): f"workspace ref 'nope' is not a branch, tag or commit of {origin}",
        (str(mesh.root / "src" / "plain"), ""): "does not appear to be a git repository",
        (str(outside), ""): f"workspace repo {outside} is a local path outside this agent's",
    }
    async with mesh.client() as client:
        for (repo, ref), said in cases.items():
            ended = await client.run(
                "shell", "script", inputs=script("touch x"), workspace={"repo": repo, "ref": ref}
            )
            assert ended.state.value == "FAILED"
            assert ended.failure is not None
            assert ended.failure.failure_class.value == "invalid_input"
            assert said in ended.failure.message and "\n" not in ended.failure.message
            assert ended.attempt == 1  # invalid input is not retried
        # Checked at submit: nothing that is not a repository, a ref or an isolation reaches
        # an agent.
        for workspace, said in (
            ({"repo": "ext::sh -c touch% /tmp/pwned"}, "workspace.repo 'ext::sh"),
            ({"repo": "-uhelp"}, "workspace.repo '-uhelp' is not a repository"),
            ({"repo": "relative/path"}, "is not a repository"),
            ({"repo": str(origin), "ref": "a..b"}, "workspace.ref 'a..b' is not a branch"),
            ({"repo": str(origin), "ref": "--upload-pack=x"}, "workspace.ref '--upload-pack"),
            ({"repo": "x" * 2000}, "workspace.repo must be at most 1024 characters"),
            ({"repo": str(origin), "isolate": "bogus"}, "workspace.isolate must be worktree"),
        ):
            with pytest.raises(InvalidArgumentError) as refused:
                await client.submit("shell", "script", inputs=script("x"), workspace=workspace)
            assert said in str(refused.value)
    usage = mesh.ctl("run", "shell", "--ref", "main")
    assert usage.returncode == 2 and "--ref and --isolate need --repo" in usage.stderr
    usage = mesh.ctl("run", "shell", "--repo", "not a repo")
    assert usage.returncode == 2 and "--repo 'not a repo' is not a repository" in usage.stderr


async def test_failed_tasks_keep_their_worktree_until_the_agent_prunes_it(mesh: Mesh) -> None:
    origin = mesh.root / "src" / "tool"
    make_repo(origin)
    data_dir, proc = await start(mesh, "w5")
    async with mesh.client() as client:
        kept = await client.run(
            "shell",
            "script",
            inputs=script("echo half-done > wip.txt; exit 3"),
            workspace={"repo": str(origin)},
            retry=RetryPolicy(max_attempts=1),
        )
        good = await client.run(
            "shell", "script", inputs=script("echo ok > ok.txt"), workspace={"repo": str(origin)}
        )
    assert kept.state.value == "FAILED" and kept.failure is not None
    worktree = data_dir / "worktrees" / kept.id
    assert f"its worktree is kept at {worktree}, branch photon/{kept.id}" in kept.failure.message
    assert (worktree / "wip.txt").read_text() == "half-done\n"
    assert good.state.value == "SUCCEEDED"
    refused = mesh.ctl("tasks", "diff", kept.id)
    assert refused.returncode == 1 and "changes stay uncommitted in its worktree" in refused.stderr
    clone = clone_of(data_dir)
    branches = set(git(clone, "branch", "--format=%(refname:short)").split())
    assert {f"photon/{kept.id}", f"photon/{good.id}"} <= branches

    # A restart within keep_days keeps everything; one with keep_days = 0 prunes it all.
    proc.stop()
    mesh.start_agent(data_dir)
    await mesh.wait_agent_state("w5", "connected")
    assert worktree.is_dir()
    assert set(git(clone, "branch", "--format=%(refname:short)").split()) == branches
    mesh.agents[-1].stop()
    write_config(mesh, data_dir, keep_days=0)
    mesh.start_agent(data_dir)
    await mesh.wait_agent_state("w5", "connected")
    assert not worktree.exists()
    assert git(clone, "branch", "--list", "photon/*") == ""
    assert await wait_for(lambda: git(clone, "worktree", "list").count("\n") == 0)
    # The clone itself stays, and serves the next task.
    async with mesh.client() as client:
        again = await client.run(
            "shell", "script", inputs=script("echo x > x"), workspace={"repo": str(origin)}
        )
    assert again.state.value == "SUCCEEDED", again.failure


async def test_a_workflow_step_runs_in_a_workspace_and_the_next_reads_its_commit(
    mesh: Mesh,
) -> None:
    origin = mesh.root / "src" / "flow"
    make_repo(origin)
    await start(mesh, "w6")
    document = {
        "name": "edit-then-check",
        "steps": [
            {
                "id": "edit",
                "tool": "shell",
                "action": "script",
                "inputs": {"script": "echo edited >> README.md"},
                "workspace": {"repo": str(origin), "ref": "main"},
            },
            {
                "id": "check",
                "tool": "shell",
                "action": "script",
                "needs": "edit",
                # The same agent's clone holds the commit the step before made.
                "inputs": {
                    "script": "git show --format=%an --stat"
                    " ${{ steps.edit.outputs.workspace.commit }}; cat README.md"
                },
                "workspace": {"repo": str(origin), "ref": "main"},
            },
        ],
    }
    async with mesh.client() as client:
        submitted = await client.submit_workflow(document)
        ended = await client.wait_workflow(submitted.id)
        assert ended.state.value == "SUCCEEDED", [s.message for s in ended.steps]
        [edit_id] = next(s for s in ended.steps if s.id == "edit").task_ids
        edit = await client.get_task(edit_id)
    assert edit.spec.workspace is not None and edit.spec.workspace.ref == "main"
    assert dict(edit.outputs or {})["workspace"]["files_changed"] == ["README.md"]
    [check_id] = next(s for s in ended.steps if s.id == "check").task_ids
    async with mesh.client() as client:
        check = await client.get_task(check_id)
    shown = str(dict(check.outputs or {})["stdout"])
    # It started from main, not from the edit: the edit lives on the edit task's branch.
    assert shown.startswith("PHOTON agent w6\n") and shown.endswith(
        "README.md | 1 +\n 1 file changed, 1 insertion(+)\nhello\n"
    )


async def test_an_agent_without_git_says_so(mesh: Mesh) -> None:
    origin = mesh.root / "src" / "nogit"
    make_repo(origin)
    data_dir = mesh.join("w7")
    write_config(mesh, data_dir, keep_days=7)
    mesh.start_agent(data_dir, env={"PATH": str(mesh.root / "empty")})
    await mesh.wait_agent_state("w7", "connected")
    async with mesh.client() as client:
        ended = await client.run(
            "echo", workspace={"repo": str(origin)}, retry=RetryPolicy(max_attempts=1)
        )
    assert ended.state.value == "FAILED" and ended.failure is not None
    assert ended.failure.failure_class.value == "tool_missing"
    assert ended.failure.message == (
        "git cannot be run here (No such file or directory): workspaces need git on the"
        " agent's PATH"
    )


async def test_an_ai_cli_works_in_the_tasks_worktree(mesh: Mesh) -> None:
    origin = mesh.root / "src" / "ai"
    make_repo(origin)
    data_dir, _ = await start(mesh, "w8", env=fake_env("success"))
    async with mesh.client() as client:
        ended = await client.run(
            "claude-code", inputs={"prompt": "hello"}, workspace={"repo": f"file://{origin}"}
        )
        assert ended.state.value == "SUCCEEDED", ended.failure
        events = [e async for e in client.watch(ended.id, follow=False) if isinstance(e, TaskEvent)]
    started = next(e for e in events if e.kind == "status")
    assert started.data["cwd"] == str(data_dir / "worktrees" / ended.id)
    assert dict(ended.outputs or {})["result"] == "Done: hello"
    assert dict(ended.outputs or {})["workspace"]["commit"] == ""
