"""Shared helpers for the adapter tests that drive a fake CLI from tests/fakes."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from photon.errors import TaskFailed
from photon.model import FailureClass
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

    # Checks every process-running adapter must pass, in its own test module.

    async def check_cancel_kills_the_tool(self, tmp_path: Path) -> None:
        """Cancelled while the `slow` scenario stalls after its one event: the task ends
        CANCELLED and the tool's process is gone within 5 s."""
        ctx, events = self.make_ctx(tmp_path, {"prompt": "hi"}, scenario="slow")
        task = asyncio.create_task(self.plugin().run(ctx))
        pidfile = tmp_path / self.pidfile
        end = time.monotonic() + 10
        # Started, and its one event before the stall has been read.
        while not (pidfile.exists() and pidfile.read_text() and events):
            assert time.monotonic() < end, "the fake never started"
            await asyncio.sleep(0.02)
        pid = int(pidfile.read_text())
        assert alive(pid)
        assert [kind for kind, _, _ in events] == ["status"]

        ctx.cancelled.set()
        with pytest.raises(TaskFailed) as info:
            await asyncio.wait_for(task, 5)
        assert info.value.failure_class is FailureClass.CANCELLED
        end = time.monotonic() + 5
        while alive(pid):
            assert time.monotonic() < end, f"fake {pid} still alive"
            await asyncio.sleep(0.05)

    async def check_deadline_kills_the_tool(self, tmp_path: Path) -> None:
        ctx, _ = self.make_ctx(
            tmp_path, {"prompt": "hi"}, scenario="slow", deadline=time.monotonic() + 1.0
        )
        with pytest.raises(TaskFailed) as info:
            await asyncio.wait_for(self.plugin().run(ctx), 10)
        assert info.value.failure_class is FailureClass.TIMEOUT
        assert not alive(int((tmp_path / self.pidfile).read_text()))

    async def check_cwd_outside_the_workspace_is_refused(self, tmp_path: Path, where: str) -> None:
        """`where`: parent, absolute or symlink."""
        outside = tmp_path / "outside"
        outside.mkdir()
        (tmp_path / "ws").mkdir()
        (tmp_path / "ws" / "link").symlink_to(outside)
        cwd = {"parent": "..", "absolute": str(outside), "symlink": "link"}[where]
        ctx, _ = self.make_ctx(tmp_path, {"prompt": "hi", "cwd": cwd})
        with pytest.raises(TaskFailed) as info:
            await self.plugin().run(ctx)
        assert info.value.failure_class is FailureClass.INVALID_INPUT
        assert "'cwd'" in str(info.value) and "outside the workspace" in str(info.value)
        assert not (tmp_path / "argv.json").exists()  # the tool never started


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
