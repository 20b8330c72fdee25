"""Finding plugins through entry points, and calling them so a broken plugin fails only its task."""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from ..errors import TaskFailed
from ..model import FailureClass
from ._api import PLUGIN_API_VERSION, Action, Plugin, TaskContext

ENTRY_POINT_GROUP: Final = "photon.plugins"

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedPlugins:
    """The plugins that loaded, and why the others did not, both keyed by entry-point name."""

    plugins: Mapping[str, Plugin]
    errors: Mapping[str, str]


def load_plugins(
    *, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None
) -> LoadedPlugins:
    """Load and instantiate every plugin; never raises for a plugin's fault.

    `entry_points` defaults to the installed `photon.plugins` group. A plugin that fails to import
    or construct, does not implement the contract, declares another PLUGIN_API_VERSION, or shares
    its name with another entry point is left out, its error recorded and logged.
    """
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    by_name: dict[str, list[importlib.metadata.EntryPoint]] = {}
    for ep in entry_points:
        by_name.setdefault(ep.name, []).append(ep)

    plugins: dict[str, Plugin] = {}
    errors: dict[str, str] = {}
    for name, eps in by_name.items():
        if len(eps) > 1:
            # Picking one would make the tool's behaviour depend on install order.
            targets = ", ".join(ep.value for ep in eps)
            errors[name] = f"plugin {name!r} is provided by more than one entry point: {targets}"
            _log.warning("%s", errors[name])
            continue
        try:
            plugin = eps[0].load()()
            # Inside the try: a plugin's attributes may be properties that raise.
            problem = _contract_problem(name, plugin)
        except Exception as exc:
            errors[name] = f"plugin {name!r} failed to load: {_describe(exc)}"
            _log.warning("%s", errors[name], exc_info=exc)
            continue
        if problem is not None:
            errors[name] = problem
            _log.warning("%s", problem)
            continue
        plugins[name] = plugin
    return LoadedPlugins(plugins=plugins, errors=errors)


def _contract_problem(name: str, obj: object) -> str | None:
    """Why `obj` is not a usable Plugin under entry-point `name`, or None if it is."""
    api_version = getattr(obj, "api_version", None)
    # Checked first: a plugin for another API version may well have another shape.
    if type(api_version) is not int:
        return f"plugin {name!r} does not declare an integer api_version"
    if api_version != PLUGIN_API_VERSION:
        return (
            f"plugin {name!r} declares API version {api_version}; "
            f"this agent supports {PLUGIN_API_VERSION}"
        )
    for attr, kind in (
        ("name", str),
        ("version", str),
        ("default_action", str),
        ("enabled_by_default", bool),
    ):
        if not isinstance(getattr(obj, attr, None), kind):
            return (
                f"plugin {name!r} does not implement the plugin API: {attr} must be {kind.__name__}"
            )
    for method in ("detect", "run"):
        if not inspect.iscoroutinefunction(getattr(obj, method, None)):
            return f"plugin {name!r} does not implement the plugin API: {method} must be async"
    actions = getattr(obj, "actions", None)
    if (
        isinstance(actions, str)
        or not isinstance(actions, Iterable)
        or not all(isinstance(a, Action) for a in actions)
    ):
        return f"plugin {name!r} does not implement the plugin API: actions must be Actions"
    plugin = cast(Plugin, obj)  # checked attribute by attribute above
    if plugin.name != name:
        return f"plugin {name!r} calls itself {plugin.name!r}; the names must match"
    if plugin.default_action not in {a.name for a in plugin.actions}:
        return (
            f"plugin {name!r} has default action {plugin.default_action!r}, not one of its actions"
        )
    return None


async def run_plugin(plugin: Plugin, ctx: TaskContext) -> Mapping[str, Any]:
    """Run one task attempt on `plugin` and return its outputs.

    Raises TaskFailed: the plugin's own, or a `tool_error` naming the plugin for any other
    exception it raises and for outputs that are not a JSON-serialisable mapping.
    CancelledError propagates unchanged.
    """
    try:
        outputs = await plugin.run(ctx)
    except (TaskFailed, asyncio.CancelledError):
        raise
    except Exception as exc:
        raise TaskFailed(
            f"plugin {plugin.name} raised {_describe(exc)}", failure_class=FailureClass.TOOL_ERROR
        ) from exc
    if not isinstance(outputs, Mapping):
        raise TaskFailed(
            f"plugin {plugin.name} returned {type(outputs).__name__}, not a mapping",
            failure_class=FailureClass.TOOL_ERROR,
        )
    outputs = dict(outputs)
    try:
        json.dumps(outputs, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TaskFailed(
            f"plugin {plugin.name} returned outputs that are not JSON: {exc}",
            failure_class=FailureClass.TOOL_ERROR,
        ) from exc
    return outputs


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
