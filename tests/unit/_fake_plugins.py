"""Plugins for the discovery tests, named by fake entry points in test_plugins.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from photon.plugins import PLUGIN_API_VERSION, Action, Detection, TaskContext


class GoodPlugin:
    name = "good"
    version = "1.0"
    api_version = PLUGIN_API_VERSION
    actions = (Action(name="go"),)
    default_action = "go"
    enabled_by_default = True

    async def detect(self) -> Detection:
        return Detection(available=True, version=self.version)

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        return {"action": ctx.action}


class FutureApiPlugin(GoodPlugin):
    name = "future"
    api_version = PLUGIN_API_VERSION + 1


class RaisingConstructorPlugin(GoodPlugin):
    name = "raising"

    def __init__(self) -> None:
        raise RuntimeError("no config for me")


class RaisingPropertyPlugin(GoodPlugin):
    name = "raising-property"

    @property
    def version(self) -> str:  # type: ignore[override]
        raise RuntimeError("version unknown")


class SyncRunPlugin(GoodPlugin):
    name = "sync"

    def run(self, ctx: TaskContext) -> Mapping[str, Any]:  # type: ignore[override]
        return {}


class BadDefaultActionPlugin(GoodPlugin):
    name = "bad-default"
    default_action = "missing"


class ExplodingPlugin(GoodPlugin):
    name = "exploding"

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        raise RuntimeError("kaboom")


def make_good() -> GoodPlugin:
    """A factory rather than a class: entry points may name either."""
    return GoodPlugin()
