"""A task's workspace: what the hub accepts, the one name a repository goes by, its lock, how
the spec travels (wire, store, workflow files), and the summary's bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from photon._repos import check_workspace, isolation, local_path, repo_name, workspace_lock
from photon.agent import AgentFlags, agent_config
from photon.agent.workspaces._summary import bounded_patch, parse_numstat
from photon.errors import ConfigError, InvalidArgumentError
from photon.hub.store._rows import spec_from_json, spec_to_json
from photon.hub.workflows import parse_workflow
from photon.model import Isolation, TaskSpec, WorkspaceSpec
from photon.wire import spec_from_proto, spec_to_proto


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("https://github.com/acme/web.git", "github.com/acme/web"),
        ("https://user@GitHub.com:443/acme/web/", "github.com/acme/web"),
        ("ssh://git@github.com/acme/web", "github.com/acme/web"),
        ("git@github.com:acme/web.git", "github.com/acme/web"),
        ("github.com:acme/web", "github.com/acme/web"),
        ("/srv/git/web", "/srv/git/web"),
        ("/srv/git/web/.git", "/srv/git/web"),
        ("file:///srv/git/./web/", "/srv/git/web"),
        ("/srv/git/web.git", "/srv/git/web"),
    ],
)
def test_one_repository_has_one_name_however_it_is_spelled(spelling: str, name: str) -> None:
    assert repo_name(spelling) == name
    shared = WorkspaceSpec(repo=spelling, isolate=Isolation.SHARED)
    assert workspace_lock(shared) == f"repo:{name}"
    assert workspace_lock(WorkspaceSpec(repo=spelling)) is None


def test_local_paths_are_told_from_remote_addresses() -> None:
    assert local_path("/a/b/../c") == "/a/c"
    assert local_path("file:///a/b") == "/a/b"
    assert local_path("file://host/a") is None
    assert local_path("git@host:a/b") is None
    assert local_path("https://host/a") is None


@pytest.mark.parametrize(
    ("repo", "ref"),
    [
        ("https://github.com/acme/web", "main"),
        ("git://example.org/x", "v1.2.3"),
        ("git@github.com:acme/web.git", "feature/login"),
        ("/srv/git/web", "0123abc"),
        ("file:///srv/git/web", ""),
    ],
)
def test_repositories_and_refs_that_are_accepted(repo: str, ref: str) -> None:
    check_workspace(WorkspaceSpec(repo=repo, ref=ref))


@pytest.mark.parametrize(
    ("repo", "ref", "said"),
    [
        ("", "", "workspace.repo is required"),
        ("ext::sh -c id", "", "is not a repository"),
        ("fd::3", "", "is not a repository"),
        ("ftp://host/x", "", "is not a repository"),
        ("relative/dir", "", "is not a repository"),
        ("-oProxyCommand=x", "", "is not a repository"),
        ("ssh://-oProxyCommand=x/r", "", "is not a repository"),
        ("https:///no-host", "", "is not a repository"),
        ("https://host/x\nfake", "", "without control characters"),
        ("/r", "a b", "workspace.ref 'a b' is not a branch"),
        ("/r", "-f", "is not a branch"),
        ("/r", "a..b", "is not a branch"),
        ("/r", "main.lock", "is not a branch"),
        ("/r", "HEAD@{1}", "is not a branch"),
        ("/r", "x" * 256, "is not a branch"),
    ],
)
def test_what_is_refused_names_the_field(repo: str, ref: str, said: str) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        check_workspace(WorkspaceSpec(repo=repo, ref=ref))
    assert said in str(refused.value)


def test_isolate_values() -> None:
    assert isolation("") is Isolation.WORKTREE
    assert isolation("worktree") is Isolation.WORKTREE
    assert isolation("shared") is isolation("none") is Isolation.SHARED
    with pytest.raises(InvalidArgumentError, match="must be worktree or shared"):
        isolation("copy")


def test_the_workspace_travels_on_the_wire_and_in_the_store() -> None:
    spec = TaskSpec(
        tool="shell",
        workspace=WorkspaceSpec(repo="/srv/web", ref="main", isolate=Isolation.SHARED),
    )
    assert spec_from_proto(spec_to_proto(spec)) == spec
    assert spec_from_json(spec_to_json(spec)) == spec
    plain = TaskSpec(tool="echo")
    assert spec_from_proto(spec_to_proto(plain)).workspace is None
    assert spec_from_json(spec_to_json(plain)) == plain


def _step(**fields: Any) -> dict[str, Any]:
    return {"name": "w", "steps": [{"id": "a", "tool": "shell", **fields}]}


def test_a_workflow_step_takes_a_workspace() -> None:
    document = _step(workspace={"repo": "git@host:a/b", "ref": "dev", "isolate": "none"})
    task = parse_workflow(document).step("a").task
    assert task.workspace == WorkspaceSpec(repo="git@host:a/b", ref="dev", isolate=Isolation.SHARED)
    for workspace, said in (
        ("git@host:a/b", "step 'a' workspace: must be a mapping with repo"),
        ({"repo": "git@host:a/b", "branch": "x"}, "step 'a' workspace: unknown field 'branch'"),
        ({"repo": 3}, "step 'a' workspace: repo, ref and isolate must be strings"),
        ({"repo": "nowhere"}, "step 'a' workspace: repo 'nowhere' is not a repository"),
        ({"repo": "/r", "isolate": "copy"}, "step 'a' workspace: isolate must be worktree"),
    ):
        with pytest.raises(InvalidArgumentError) as refused:
            parse_workflow(_step(workspace=workspace))
        assert str(refused.value).startswith(said), str(refused.value)


def test_keep_days_in_agent_toml(tmp_path: Path) -> None:
    def config(file: dict[str, Any]) -> float:
        made = agent_config(
            data_dir=tmp_path, file=file, source=None, env={}, flags=AgentFlags(), home=tmp_path
        )
        return made.keep_days

    assert config({}) == 7.0
    assert config({"workspaces": {"keep_days": 0.5}}) == 0.5
    for bad, said in (
        ({"keep_days": -1}, "keep_days must be a number of days"),
        ({"keep_days": True}, "keep_days must be a number of days"),
        ({"keep": 1}, "unknown key 'keep'"),
    ):
        with pytest.raises(ConfigError, match=said):
            config({"workspaces": bad})


def test_a_patch_past_its_bound_is_cut_at_a_line_end() -> None:
    patch = "".join(f"+line {n}\n" for n in range(100))
    assert bounded_patch(patch, limit=len(patch)) == (patch, False)
    cut, truncated = bounded_patch(patch, limit=25)
    assert truncated and cut == "+line 0\n+line 1\n+line 2\n"
    assert bounded_patch("é" * 10, limit=5) == ("éé", True)  # never half a character


def test_numstat_counts_lines_and_binary_files() -> None:
    text = "2\t1\ta.txt\0-\t-\tlogo.png\0" + "0\t3\tdir/b c.txt\0"
    assert parse_numstat(text) == (("a.txt", "logo.png", "dir/b c.txt"), 2, 4)
