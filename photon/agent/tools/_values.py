"""What the agent tells the hub about each of its tools."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...plugins import Action, Plugin


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolInfo:
    """One tool as this agent offers it. A plugin that failed to load or to detect its tool is
    listed too, with only its name and why (`detail`), so the hub can show it."""

    name: str
    version: str = ""
    actions: Sequence[Action] = ()
    default_action: str = ""
    available: bool = False
    enabled: bool = False
    detail: str = ""


def tool_info(
    plugin: Plugin, *, version: str, available: bool, enabled: bool, detail: str
) -> ToolInfo:
    """What an agent tells the hub about one of its plugins."""
    return ToolInfo(
        name=plugin.name,
        version=version,
        actions=tuple(plugin.actions),
        default_action=plugin.default_action,
        available=available,
        enabled=enabled,
        detail=detail,
    )
