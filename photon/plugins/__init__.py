"""The plugin SDK: the contract tool adapters implement, their discovery, and the process runner."""

from ._api import PLUGIN_API_VERSION as PLUGIN_API_VERSION
from ._api import Action as Action
from ._api import Detection as Detection
from ._api import EventSink as EventSink
from ._api import Plugin as Plugin
from ._api import SimpleTaskContext as SimpleTaskContext
from ._api import TaskContext as TaskContext
from ._cli import PROMPT_SCHEMA as PROMPT_SCHEMA
from ._cli import CliAdapter as CliAdapter
from ._cli import RunState as RunState
from ._cli import json_object as json_object
from ._discovery import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from ._discovery import LoadedPlugins as LoadedPlugins
from ._discovery import load_plugins as load_plugins
from ._discovery import run_plugin as run_plugin
from ._process import LineSink as LineSink
from ._process import ProcessResult as ProcessResult
from ._process import run_process as run_process
from ._workspace import open_in_workspace as open_in_workspace
from ._workspace import resolve_in_workspace as resolve_in_workspace

__all__ = [
    "ENTRY_POINT_GROUP",
    "PLUGIN_API_VERSION",
    "PROMPT_SCHEMA",
    "Action",
    "CliAdapter",
    "Detection",
    "EventSink",
    "LineSink",
    "LoadedPlugins",
    "Plugin",
    "ProcessResult",
    "RunState",
    "SimpleTaskContext",
    "TaskContext",
    "json_object",
    "load_plugins",
    "open_in_workspace",
    "resolve_in_workspace",
    "run_plugin",
    "run_process",
]
