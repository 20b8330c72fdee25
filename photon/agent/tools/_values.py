"""What the agent tells the hub about each of its tools."""

from __future__ import annotations

import json

from ...model import ActionInfo, ToolInfo
from ...plugins import Plugin


def tool_info(
    plugin: Plugin, *, version: str, available: bool, enabled: bool, detail: str
) -> ToolInfo:
    """What an agent tells the hub about one of its plugins."""
    return ToolInfo(
        name=plugin.name,
        version=version,
        actions=tuple(
            ActionInfo(
                name=a.name,
                description=a.description,
                input_schema_json=json.dumps(dict(a.input_schema)) if a.input_schema else "",
            )
            for a in plugin.actions
        ),
        default_action=plugin.default_action,
        available=available,
        enabled=enabled,
        detail=detail,
    )
