"""Real processes for integration tests: a hub on port 0 with its own CA, agents that join it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from photon.client import ClientContext, PhotonClient, load_context, save_context

PYTHON = sys.executable
HEARTBEAT = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll an (async or plain) predicate until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


@dataclass
class Proc:
    """A daemon process whose output goes to a log file."""

    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.args, env=self.env, stdout=handle, stderr=subprocess.STDOUT
        )
        handle.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def signal(self, sig: int) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; returns the exit code (SIGKILL if it does not stop in time)."""
        if self.popen is None:
            return 0
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)
            self.popen.terminate()
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                raise
        return self.popen.returncode

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Mesh:
    """One hub with its data dir and client config, plus the agents started against it."""

    root: Path
    env: dict[str, str]
    mesh_port: int = 0
    api_port: int = 0
    hub: Proc | None = None
    agents: list[Proc] = field(default_factory=list)
    serving: dict[str, str] = field(default_factory=dict)

    @property
    def hub_dir(self) -> Path:
        return self.root / "hub"

    @property
    def config_path(self) -> Path:
        return Path(self.env["PHOTON_CONFIG"])

    def run(
        self,
        *args: str,
        input: str | None = None,
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, *args],
            env=self.env if env is None else env,
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
        )

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "photon.cli.ctl", *args, timeout=timeout)

    def init(self) -> None:
        result = self.run("-m", "photon.cli.hub", "init", "--data-dir", str(self.hub_dir))
        assert result.returncode == 0, result.stderr

    async def start_hub(self, *extra: str) -> Proc:
        serving = self.hub_dir / "serving.json"
        serving.unlink(missing_ok=True)
        self.hub = Proc(
            [
                PYTHON,
                "-m",
                "photon.cli.hub",
                "serve",
                "--data-dir",
                str(self.hub_dir),
                "--listen",
                f"127.0.0.1:{self.mesh_port}",
                "--api-listen",
                f"127.0.0.1:{self.api_port}",
                "--http-listen",
                "127.0.0.1:0",
                "--heartbeat-interval",
                str(HEARTBEAT),
                "--failover-grace",
                "2",
                *extra,
            ],
            self.env,
            self.root / "hub.log",
        ).start()
        await wait_for(lambda: serving.exists() or self.hub.popen.poll() is not None)  # type: ignore[union-attr]
        assert serving.exists(), self.hub.output()
        self.serving = json.loads(serving.read_text())
        # Point the client context at the port the hub actually bound.
        context = load_context(self.config_path)
        save_context(
            self.config_path,
            ClientContext(
                name=context.name,
                api=self.serving["api"],
                ca_pem=context.ca_pem,
                api_key=context.api_key,
            ),
        )
        return self.hub

    def client(self) -> PhotonClient:
        return PhotonClient.from_context(load_context(self.config_path))

    def join(self, name: str, *, labels: str = "", token_labels: str = "") -> Path:
        created = self.ctl("join-token", "create", "--labels", token_labels)
        assert created.returncode == 0, created.stderr
        data_dir = self.root / f"agent-{name}"
        joined = self.run(
            "-m",
            "photon.cli.agent",
            "join",
            "--token",
            created.stdout.strip(),
            "--name",
            name,
            "--labels",
            labels,
            "--data-dir",
            str(data_dir),
        )
        assert joined.returncode == 0, joined.stderr
        return data_dir

    def start_agent(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Proc:
        """Start `photon-agent run`; `env` entries are added to the agent's environment."""
        proc = Proc(
            [PYTHON, "-m", "photon.cli.agent", "run", "--data-dir", str(data_dir), *extra],
            {**self.env, **(env or {})},
            data_dir.with_suffix(".log"),
        ).start()
        self.agents.append(proc)
        return proc

    async def agent(
        self, name: str, *extra: str, labels: str = "", env: dict[str, str] | None = None
    ) -> Proc:
        """Join and start an agent, then wait until the hub shows it connected."""
        proc = self.start_agent(self.join(name, labels=labels), *extra, env=env)
        await self.wait_agent_state(name, "connected")
        return proc

    async def wait_agent_state(self, name: str, state: str, timeout: float = 20.0) -> None:
        async with self.client() as client:

            async def ready() -> bool:
                agents = await client.list_agents()
                return any(a.name == name and a.state.value == state for a in agents)

            await wait_for(ready, timeout=timeout)

    def stop_all(self) -> None:
        for proc in [*self.agents, *([self.hub] if self.hub else [])]:
            try:
                proc.stop(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def make_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTON_")}
    env.update(
        HOME=str(root / "home"),
        PHOTON_CONFIG=str(root / "home" / "config.toml"),
        PYTHONUNBUFFERED="1",
    )
    return env


TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT")


def terminal_transitions(hub_dir: Path) -> dict[str, int]:
    """How many times the hub recorded each task ending (must be exactly once)."""
    with sqlite3.connect(f"file:{hub_dir / 'hub.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT task_id, COUNT(*) FROM task_events WHERE kind = 'state'"
            f" AND json_extract(data, '$.state') IN {TERMINAL!r} GROUP BY task_id"
        ).fetchall()
    return dict(rows)
