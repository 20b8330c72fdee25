"""What this host offers the mesh: its tools (plugins loaded, detected, enabled or not) and its
load (host metrics), as frozen values; the session turns them into messages for the hub."""

from ._host import collect_metrics as collect_metrics
from ._toolbox import Toolbox as Toolbox
from ._toolbox import load_tools as load_tools
from ._values import tool_info as tool_info

__all__ = [
    "Toolbox",
    "collect_metrics",
    "load_tools",
    "tool_info",
]
