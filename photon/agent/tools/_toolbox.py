"""The agent's tools: its plugins loaded and detected, and which of them may run."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import TaskFailed
from ...model import FailureClass, ToolInfo
from ...plugins import Detection, LoadedPlugins, Plugin, load_plugins
from ..config import AgentConfig
from ._values import tool_info

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Toolbox:
    """The plugins that loaded and detected, what the agent reports about every tool (those
    that failed included), and each tool's settings from the agent config."""

    plugins: Mapping[str, Plugin]
    tools: Sequence[ToolInfo]
    settings: Mapping[str, Mapping[str, Any]]

    def plugin_for(self, tool: str) -> Plugin:
        """The plugin that runs `tool`. Raises TaskFailed (`tool_missing`) when there is none
        or it is not enabled on this agent."""
        plugin = self.plugins.get(tool)
        info = next((t for t in self.tools if t.name == tool), None)
        if plugin is None or info is None or not info.enabled:
            reason = (
                f"tool {tool!r} is not allowed on this agent (start it with --allow-tool)"
                if plugin is not None
                else f"tool {tool!r} is not installed on this agent"
            )
            raise TaskFailed(reason, failure_class=FailureClass.TOOL_MISSING)
        return plugin

    def settings_for(self, tool: str) -> Mapping[str, Any]:
        return self.settings.get(tool, {})


async def load_tools(config: AgentConfig, *, loaded: LoadedPlugins | None = None) -> Toolbox:
    """Load the plugins (`loaded`, else the installed entry points), let each detect its tool
    and decide which are enabled. Never raises for a plugin's fault: a plugin that fails to
    load or to detect is reported with why, and left out of `plugins`."""
    if loaded is None:
        loaded = load_plugins()
    plugins: dict[str, Plugin] = {}
    tools: list[ToolInfo] = []
    for name, plugin in sorted(loaded.plugins.items()):
        try:
            detection = await _detect(plugin, config.tools.get(name, {}))
        except Exception as exc:  # a plugin's bug must not stop the agent
            log.warning("plugin %s failed to detect its tool: %s", name, exc)
            tools.append(ToolInfo(name=name, detail=f"detect failed: {exc}"))
            continue
        enabled = config.tool_enabled(name, by_default=plugin.enabled_by_default)
        plugins[name] = plugin
        tools.append(
            tool_info(
                plugin,
                version=detection.version or plugin.version,
                available=detection.available,
                enabled=enabled,
                detail=detection.detail if enabled else _disabled_detail(config, name),
            )
        )
    for name, error in sorted(loaded.errors.items()):
        tools.append(ToolInfo(name=name, detail=error))
    unknown = config.allowed_tools - set(loaded.plugins)
    if unknown:
        log.warning("--allow-tool names unknown tools: %s", ", ".join(sorted(unknown)))
    unset = set(config.tools) - set(loaded.plugins) - set(loaded.errors)
    if unset:
        log.warning("agent config has settings for unknown tools: %s", ", ".join(sorted(unset)))
    return Toolbox(plugins=plugins, tools=tuple(tools), settings=config.tools)


def _disabled_detail(config: AgentConfig, name: str) -> str:
    if config.tools.get(name, {}).get("enabled") is False:
        return "switched off in the agent config"
    return "not allowed on this agent"


async def _detect(plugin: Plugin, settings: Mapping[str, Any]) -> Detection:
    """Plugins may take this tool's agent settings in detect (e.g. a `binary` path)."""
    if "settings" in inspect.signature(plugin.detect).parameters:
        return await plugin.detect(settings=settings)  # type: ignore[call-arg]
    return await plugin.detect()
