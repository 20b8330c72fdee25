"""Each AI CLI adapter's `prompt` schema names exactly the inputs the adapter accepts, so the hub
refuses the others at submit and a fallback keeps only what the fallback tool can use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from photon.agent.tools._values import tool_info
from photon.errors import TaskFailed
from photon.hub.tasks._quota import fallback_spec
from photon.model import FailureClass, TaskSpec
from photon.plugins._cli import PROMPT_SCHEMA, CliAdapter, prompt_action
from photon.plugins.builtin.claude_code import ClaudeCodePlugin
from photon.plugins.builtin.codex import CodexPlugin
from photon.plugins.builtin.cursor_agent import CursorAgentPlugin
from photon.plugins.builtin.gemini_cli import GeminiCliPlugin

from ._fake_cli import FAKES, FakeCli

ADAPTERS: dict[str, type[CliAdapter]] = {
    "claude": ClaudeCodePlugin,
    "codex": CodexPlugin,
    "cursor-agent": CursorAgentPlugin,
    "gemini": GeminiCliPlugin,
}
# A value of each input that the adapters take (codex's mode is its sandbox, see MODES).
SAMPLES: dict[str, Any] = {
    "cwd": ".",
    "model": "some-model",
    "permission_mode": "default",
    "allowed_tools": ["Read"],
    "disallowed_tools": ["Bash"],
    "max_turns": 3,
    "resume": "0d0e0f00-1111-4222-8333-444455556666",
    "system_prompt": "be brief",
    "extra_args": ["--verbose"],
}


MODES = {"codex": "read-only"}


def properties(plugin: CliAdapter) -> set[str]:
    (action,) = plugin.actions
    return set(action.input_schema["properties"])


def refuses(tmp_path: Path, binary: str, plugin: type[CliAdapter], name: str) -> bool:
    """Whether the adapter refuses input `name` as invalid_input when building its command."""
    value = MODES.get(binary, SAMPLES[name]) if name == "permission_mode" else SAMPLES[name]
    ctx, _ = FakeCli(FAKES / binary, plugin).make_ctx(tmp_path, {"prompt": "hi", name: value})
    try:
        plugin().build_argv(ctx, "tool", str(tmp_path))
    except TaskFailed as exc:
        assert exc.failure_class is FailureClass.INVALID_INPUT, exc
        return True
    return False


@pytest.mark.parametrize("binary", sorted(ADAPTERS))
def test_the_schema_lists_exactly_the_inputs_the_adapter_accepts(
    tmp_path: Path, binary: str
) -> None:
    plugin = ADAPTERS[binary]
    listed = properties(plugin())
    assert "prompt" in listed
    assert set(SAMPLES) == set(PROMPT_SCHEMA["properties"]) - {"prompt"}
    for name in SAMPLES:
        assert refuses(tmp_path, binary, plugin, name) == (name not in listed), name


def test_gemini_takes_none_of_the_claude_only_inputs() -> None:
    gemini, claude = properties(GeminiCliPlugin()), properties(ClaudeCodePlugin())
    assert claude - gemini == {
        "allowed_tools",
        "disallowed_tools",
        "max_turns",
        "system_prompt",
        "max_budget_usd",
    }
    assert gemini <= set(PROMPT_SCHEMA["properties"])


def test_a_fallback_to_gemini_keeps_only_the_inputs_gemini_accepts() -> None:
    tools = [
        tool_info(plugin(), version="1", available=True, enabled=True, detail="")
        for plugin in (ClaudeCodePlugin, GeminiCliPlugin)
    ]
    inputs = {"prompt": "fix it", "model": "m", "max_turns": 4, "max_budget_usd": 0.5}
    spec = TaskSpec(tool="claude-code", inputs=inputs, fallback=("gemini-cli",))
    switched = fallback_spec(spec, "gemini-cli", tools)
    assert (switched.tool, switched.action) == ("gemini-cli", "prompt")
    assert dict(switched.inputs) == {"prompt": "fix it", "model": "m"}


def test_an_unknown_input_to_leave_out_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="not inputs of PROMPT_SCHEMA: max_turn"):
        prompt_action(without=("max_turn",))
