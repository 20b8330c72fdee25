"""The agent's settings: agent.toml validated and layered under the environment and flags."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from photon.agent import AgentConfig, AgentFlags, agent_config
from photon.cli.agent import _config_path
from photon.cli.agent import main as agent_main
from photon.errors import ConfigError

SOURCE = Path("/etc/photon/agent.toml")
DATA = Path("/var/lib/photon/agent")
HOME = Path("/home/me")

EXAMPLE = """
slots = 4
labels = { gpu = "a100" }
workspace_roots = ["/home/me/src"]
[tools.shell]
enabled = true
script = false
[tools.claude-code]
binary = "/opt/claude/bin/claude"
model = "sonnet"
extra_args = ["--fallback-model", "haiku"]
[tools.echo]
enabled = false
"""


def build(
    file: dict[str, Any] | str | None = None,
    *,
    env: dict[str, str] | None = None,
    flags: AgentFlags | None = None,
    source: Path | None = SOURCE,
) -> AgentConfig:
    data = tomllib.loads(file) if isinstance(file, str) else (file or {})
    return agent_config(
        data_dir=DATA,
        file=data,
        source=source if data else None,
        env=env or {},
        flags=flags or AgentFlags(),
        home=HOME,
    )


def error(file: dict[str, Any] | str, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        build(file, **kwargs)
    return str(info.value)


def test_defaults_without_a_file() -> None:
    config = build()
    assert config.slots == 4
    assert config.labels == {}
    assert config.allowed_tools == frozenset()
    assert config.tools == {}
    assert config.workspace_roots == ()
    assert config.workspace_root == DATA / "workspace"


def test_the_documented_example() -> None:
    config = build(EXAMPLE)
    assert config.slots == 4
    assert config.labels == {"gpu": "a100"}
    assert config.workspace_roots == (Path("/home/me/src"),)
    assert config.workspace_root == Path("/home/me/src")
    assert dict(config.tools["shell"]) == {"enabled": True, "script": False}
    assert config.tools["claude-code"]["extra_args"] == ["--fallback-model", "haiku"]
    assert config.tools["claude-code"]["model"] == "sonnet"


def test_tool_settings_are_read_only() -> None:
    config = build(EXAMPLE)
    with pytest.raises(TypeError):
        config.tools["shell"]["enabled"] = False  # type: ignore[index]
    with pytest.raises(TypeError):
        config.tools["new"] = {}  # type: ignore[index]


def test_unknown_tool_keys_pass_through_to_the_plugin() -> None:
    config = build({"tools": {"zai": {"base_url": "https://api.z.ai", "max_tokens": 100}}})
    assert dict(config.tools["zai"]) == {"base_url": "https://api.z.ai", "max_tokens": 100}


@pytest.mark.parametrize(
    ("settings", "allowed", "by_default", "enabled"),
    [
        ({}, set(), True, True),  # on by default
        ({}, set(), False, False),  # off by default (shell)
        ({"enabled": True}, set(), False, True),  # switched on in the file
        ({"enabled": False}, set(), True, False),  # switched off in the file
        ({}, {"t"}, False, True),  # --allow-tool
        ({"enabled": False}, {"t"}, True, True),  # a flag beats the file
        ({"model": "x"}, set(), False, False),  # settings alone do not enable
    ],
)
def test_tool_enabled(
    settings: dict[str, Any], allowed: set[str], by_default: bool, enabled: bool
) -> None:
    config = build(
        {"tools": {"t": settings}} if settings else None,
        flags=AgentFlags(allowed_tools=frozenset(allowed)),
    )
    assert config.tool_enabled("t", by_default=by_default) is enabled


# --- precedence -----------------------------------------------------------------------------


def test_env_beats_file_and_flags_beat_env_for_slots() -> None:
    assert build({"slots": 2}).slots == 2
    assert build({"slots": 2}, env={"PHOTON_AGENT_SLOTS": "6"}).slots == 6
    assert (
        build({"slots": 2}, env={"PHOTON_AGENT_SLOTS": "6"}, flags=AgentFlags(slots=8)).slots == 8
    )
    assert build({"slots": 2}, env={"PHOTON_AGENT_SLOTS": " "}).slots == 2


def test_labels_merge_key_by_key_upwards() -> None:
    config = build(
        {"labels": {"gpu": "a100", "zone": "file", "kind": "file"}},
        env={"PHOTON_AGENT_LABELS": "zone=env, kind=env"},
        flags=AgentFlags(labels={"kind": "flag"}),
    )
    assert config.labels == {"gpu": "a100", "zone": "env", "kind": "flag"}


def test_allowed_tools_add_up_from_env_and_flags() -> None:
    config = build(
        env={"PHOTON_AGENT_ALLOW_TOOLS": "shell, files,"},
        flags=AgentFlags(allowed_tools=frozenset({"codex"})),
    )
    assert config.allowed_tools == {"shell", "files", "codex"}


def test_workspace_roots_resolve_relative_to_the_file_and_expand_home() -> None:
    config = build({"workspace_roots": ["src", "~/code", "~", "/abs"]})
    assert config.workspace_roots == (
        Path("/etc/photon/src"),
        Path("/home/me/code"),
        Path("/home/me"),
        Path("/abs"),
    )


# --- every error ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (
            {"slot": 4},
            "unknown key 'slot' (known: labels, slots, tools, workspace_roots, workspaces)",
        ),
        ({"slots": 0}, "slots must be a whole number of at least 1, not 0"),
        ({"slots": "4"}, "slots must be a whole number of at least 1, not '4'"),
        ({"slots": True}, "slots must be a whole number of at least 1, not True"),
        ({"slots": 2.5}, "slots must be a whole number of at least 1, not 2.5"),
        ({"labels": ["gpu"]}, 'labels must be a table of strings, e.g. labels = { gpu = "a100" }'),
        ({"labels": {"gpu": 1}}, "labels.gpu must be a string"),
        ({"labels": {"-gpu": "x"}}, "labels.-gpu: invalid key '-gpu'"),
        ({"labels": {"gpu": "a=b"}}, "labels.gpu: value must not contain '=' or ','"),
        ({"labels": {"gpu": "x" * 64}}, "labels.gpu: value longer than 63 chars"),
        ({"workspace_roots": "/src"}, "workspace_roots must be a list of directories"),
        ({"workspace_roots": []}, "workspace_roots must name at least one directory"),
        ({"workspace_roots": ["/a", 3]}, "workspace_roots[1] must be a non-empty path"),
        ({"workspace_roots": [" "]}, "workspace_roots[0] must be a non-empty path"),
        ({"workspace_roots": ["a\x00b"]}, "workspace_roots[0] must be a non-empty path"),
        ({"workspace_roots": ["~bob/src"]}, "workspace_roots[0]: only ~ and ~/... are expanded"),
        ({"workspace_roots": ["/a", "/a"]}, "workspace_roots[1]: '/a' is listed twice"),
        ({"tools": []}, "tools must be a table of [tools.NAME] sections"),
        ({"tools": {"Shell": {}}}, "tools.Shell: invalid tool name"),
        ({"tools": {"shell": True}}, "tools.shell must be a table ([tools.shell])"),
        ({"tools": {"shell": {"enabled": "yes"}}}, "tools.shell.enabled must be true or false"),
        ({"tools": {"shell": {"script": 1}}}, "tools.shell.script must be true or false"),
        ({"tools": {"codex": {"binary": ""}}}, "tools.codex.binary must be a non-empty string"),
        ({"tools": {"codex": {"model": 4}}}, "tools.codex.model must be a non-empty string"),
        (
            {"tools": {"codex": {"extra_args": "--x"}}},
            "tools.codex.extra_args must be a list of strings",
        ),
        (
            {"tools": {"codex": {"extra_args": ["--n", 3]}}},
            "tools.codex.extra_args must be a list of strings",
        ),
        ({"tools": {"codex": {"env": {"A": 1}}}}, "tools.codex.env must be a table of strings"),
    ],
)
def test_file_errors_name_the_file_and_key(file: dict[str, Any], message: str) -> None:
    text = error(file)
    assert text.startswith(f"agent config {SOURCE}: {message}")
    assert "\n" not in text


def test_the_error_format_of_the_brief() -> None:
    text = error({"tools": {"shell": {"enabled": "yes"}}}, source=Path("/x/agent.toml"))
    assert text == "agent config /x/agent.toml: tools.shell.enabled must be true or false"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PHOTON_AGENT_SLOTS": "four"}, "PHOTON_AGENT_SLOTS must be a whole number"),
        ({"PHOTON_AGENT_SLOTS": "0"}, "PHOTON_AGENT_SLOTS must be a whole number"),
        ({"PHOTON_AGENT_SLOTS": "-2"}, "PHOTON_AGENT_SLOTS must be a whole number"),
        ({"PHOTON_AGENT_LABELS": "gpu"}, "PHOTON_AGENT_LABELS: label 'gpu': expected k=v"),
        ({"PHOTON_AGENT_LABELS": "/x=1"}, "PHOTON_AGENT_LABELS: label '/x=1': invalid key"),
        ({"PHOTON_AGENT_LABELS": "a=" + "v" * 64}, "value longer than 63 chars"),
    ],
)
def test_env_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(env=env)
    text = str(info.value)
    assert text.startswith(next(iter(env)))
    assert message in text
    assert "\n" not in text


def test_unknown_key_without_a_source_still_says_agent_config() -> None:
    with pytest.raises(ConfigError, match=r"^agent config: unknown key 'x'"):
        agent_config(
            data_dir=DATA, file={"x": 1}, source=None, env={}, flags=AgentFlags(), home=HOME
        )


# --- the photon-agent command line ---------------------------------------------------------


def test_config_file_flag_then_env_then_the_data_dir_default(tmp_path: Path) -> None:
    flag, from_env = tmp_path / "flag.toml", tmp_path / "env.toml"
    env = {"PHOTON_AGENT_CONFIG": str(from_env)}
    assert _config_path(flag, env, tmp_path) == flag
    assert _config_path(None, env, tmp_path) == from_env
    assert _config_path(None, {}, tmp_path) is None  # no agent.toml: no file, no error
    (tmp_path / "agent.toml").write_text("")
    assert _config_path(None, {}, tmp_path) == tmp_path / "agent.toml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "error: config file {path} not found"),
        ("slots = [", "error: cannot read config file {path}: "),
        ("[tools.shell]\nenabled = 1\n", "error: agent config {path}: tools.shell.enabled must"),
    ],
)
def test_agent_run_refuses_a_bad_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, expected: str
) -> None:
    path = tmp_path / "agent.toml"
    if text is not None:
        path.write_text(text)
    code = agent_main(["run", "--data-dir", str(tmp_path), "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(expected.format(path=path))
    assert err.count("\n") == 1


def test_agent_run_slots_flag_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert agent_main(["run", "--data-dir", str(tmp_path), "--slots", "0"]) == 2
    assert capsys.readouterr().err == "error: --slots must be at least 1\n"
