"""Shared helpers for the adapter tests that drive a fake CLI from tests/fakes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from photon.errors import TaskFailed
from photon.plugins import SimpleTaskContext

FAKES = Path(__file__).resolve().parents[1] / "fakes"

Event = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class FakeCli:
    """One fake tool: its path, the plugin that drives it, its pid file name and default action."""

    binary: Path
    plugin: Callable[[], Any]
    pidfile: str = "pids"
    action: str = "prompt"

    def make_ctx(
        self,
        tmp_path: Path,
        inputs: Mapping[str, Any],
        *,
        scenario: str = "success",
        settings: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> tuple[SimpleTaskContext, list[Event]]:
        workdir = tmp_path / "ws"
        workdir.mkdir(exist_ok=True)
        events: list[Event] = []
        fake_env = {
            "PHOTON_FAKE_SCENARIO": scenario,
            "PHOTON_FAKE_ARGV_FILE": str(tmp_path / "argv.json"),
            "PHOTON_FAKE_PIDFILE": str(tmp_path / self.pidfile),
            **(env or {}),
        }
        ctx = SimpleTaskContext(
            task_id="t1",
            action=self.action,
            inputs=inputs,
            workdir=workdir,
            secrets=secrets or {},
            settings={"binary": str(self.binary), "env": fake_env, **(settings or {})},
            deadline=deadline,
            on_event=lambda kind, message, data: events.append((kind, message, data)),
        )
        return ctx, events

    async def run(
        self, tmp_path: Path, scenario: str = "success", **inputs: Any
    ) -> tuple[Mapping[str, Any], list[Event]]:
        ctx, events = self.make_ctx(tmp_path, {"prompt": "hi", **inputs}, scenario=scenario)
        outputs: Mapping[str, Any] = await self.plugin().run(ctx)
        return outputs, events

    async def fail(
        self, tmp_path: Path, scenario: str, **inputs: Any
    ) -> tuple[TaskFailed, list[Event]]:
        ctx, events = self.make_ctx(tmp_path, {"prompt": "hi", **inputs}, scenario=scenario)
        with pytest.raises(TaskFailed) as info:
            await self.plugin().run(ctx)
        return info.value, events


def recorded_argv(tmp_path: Path) -> list[str]:
    return list(json.loads((tmp_path / "argv.json").read_text()))


def of_kind(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e[0] == kind]


def alive(pid: int) -> bool:
    """True if `pid` runs; a zombie counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
