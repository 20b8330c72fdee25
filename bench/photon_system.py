"""PHOTON as users run it: `photon-hub serve` (mTLS mesh, durable SQLite) and 2 `photon-agent run`.

Driven through the asyncio admin client (`photon.client.PhotonClient`); the no-op is the `echo`
tool with empty inputs. Nothing is tuned for the benchmark: default heartbeat, default store
(SQLite, WAL, synchronous=FULL), default send queues.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from photon.client import (
    ClientContext,
    PhotonClient,
    Task,
    load_context,
    save_context,
    task_spec,
)
from photon.model import AgentState, TaskState

from .procs import PYTHON, Daemon, child_env, rss_mb, wait_until
from .workloads import WORKERS, Footprint, System

IDLE_SETTLE = 2.0


class PhotonSystem(System[str]):
    name = "photon"
    native_chain = True
    native_fan = True

    def __init__(self, *, workdir: Path, hub_config: str = "") -> None:
        self._root = workdir
        self._hub_config = hub_config  # TOML for `serve --config`, when the defaults will not do
        self._env = child_env(
            {"HOME": str(workdir / "home"), "PHOTON_CONFIG": str(workdir / "home/config.toml")}
        )
        self._hub: Daemon | None = None
        self._agents: list[Daemon] = []
        self._agent_dirs: list[Path] = []
        self._client: PhotonClient | None = None

    @property
    def hub_pid(self) -> int | None:
        return self._hub.pid if self._hub else None

    @property
    def client(self) -> PhotonClient:
        assert self._client is not None, "not started"
        return self._client

    @property
    def env(self) -> Mapping[str, str]:
        """The environment its processes get: HOME and the photonctl context in the work dir."""
        return self._env

    def addresses(self) -> dict[str, str]:
        """What the running hub bound: `mesh`, `api` and `http` addresses."""
        return dict(json.loads((self._root / "hub/serving.json").read_text()))

    async def _cli(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            PYTHON,
            *args,
            env=self._env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:3])} failed: {err.decode().strip()}")
        return out.decode()

    async def start(self, *, slots: int) -> Footprint:
        hub_dir = self._root / "hub"
        await self._cli("-m", "photon.cli.hub", "init", "--data-dir", str(hub_dir))
        config: list[str] = []
        if self._hub_config:
            (self._root / "hub.toml").write_text(self._hub_config)
            config = ["--config", str(self._root / "hub.toml")]
        self._hub = Daemon(
            [
                PYTHON,
                "-m",
                "photon.cli.hub",
                "serve",
                "--data-dir",
                str(hub_dir),
                "--listen",
                "127.0.0.1:0",
                "--api-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                *config,
            ],
            self._root / "hub.log",
            env=self._env,
        ).start()
        serving = hub_dir / "serving.json"
        await wait_until(
            lambda: serving.exists() or not self._hub.running,  # type: ignore[union-attr]
            within=60,
            what="hub serving",
        )
        if not serving.exists():
            raise RuntimeError(f"hub did not start:\n{self._hub.tail()}")
        config = Path(self._env["PHOTON_CONFIG"])
        context = load_context(config)
        api = json.loads(serving.read_text())["api"]
        save_context(
            config,
            ClientContext(
                name=context.name, api=api, ca_pem=context.ca_pem, api_key=context.api_key
            ),
        )
        self._client = PhotonClient.from_context(load_context(config))
        await self._client.__aenter__()

        for i in range(WORKERS):
            token, _ = await self.client.create_join_token()
            data_dir = self._root / f"agent-{i}"
            await self._cli(
                "-m",
                "photon.cli.agent",
                "join",
                "--token",
                token,
                "--name",
                f"bench-{i}",
                "--data-dir",
                str(data_dir),
            )
            self._agent_dirs.append(data_dir)
        startup = await self._start_agents(slots)
        await asyncio.sleep(IDLE_SETTLE)
        return Footprint(
            hub_rss_mb=rss_mb(self._hub.pid),
            agent_rss_mb=rss_mb(self._agents[0].pid),
            startup_s=startup,
        )

    async def _start_agents(self, slots: int) -> float:
        """Start every agent; return the seconds from `photon-agent run` to all connected."""
        t0 = time.monotonic()
        self._agents = [
            Daemon(
                [
                    PYTHON,
                    "-m",
                    "photon.cli.agent",
                    "run",
                    "--data-dir",
                    str(d),
                    "--slots",
                    str(slots),
                ],
                d.with_suffix(f".{slots}.log"),
                env=self._env,
            ).start()
            for d in self._agent_dirs
        ]

        async def connected() -> bool:
            for agent in self._agents:
                if not agent.running:
                    raise RuntimeError(f"agent exited:\n{agent.tail()}")
            agents = await self.client.list_agents()
            ready = [a for a in agents if a.state == AgentState.CONNECTED and a.slots == slots]
            return len(ready) == len(self._agents)

        await wait_until(connected, within=60, interval=0.005, what="agents connected")
        return time.monotonic() - t0

    async def resize(self, *, slots: int) -> None:
        for agent in self._agents:
            agent.stop()
        await self._start_agents(slots)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        for proc in [*self._agents, *([self._hub] if self._hub else [])]:
            await asyncio.to_thread(proc.stop)

    async def submit(self) -> str:
        return (await self.client.submit("echo")).id

    async def wait(self, handle: str) -> None:
        _check(await self.client.wait(handle))

    async def run_one(self) -> None:
        _check(await self.client.run("echo"))

    async def submit_many(self, n: int) -> list[str]:
        return [t.id for t in await self.client.submit_many([task_spec("echo")] * n)]

    async def wait_many(self, handles: Sequence[str]) -> None:
        for task in await self.client.wait_many(handles):
            _check(task)

    # W3 and W4 as workflows: the hub resolves the dependencies, not this client.

    async def chain(self, n: int) -> None:
        steps = [
            {"id": f"s{i}", "tool": "echo", **({"needs": [f"s{i - 1}"]} if i else {})}
            for i in range(n)
        ]
        await self._run_workflow({"name": "w3-chain", "steps": steps})

    async def fan_out_in(self, n: int) -> None:
        document = {
            "name": "w4-fan",
            "inputs": {"items": {"default": list(range(n))}},
            "steps": [
                {"id": "first", "tool": "echo"},
                {
                    "id": "fan",
                    "tool": "echo",
                    "needs": ["first"],
                    "for_each": "${{ inputs.items }}",
                    "inputs": {"item": "${{ item }}"},
                },
                {"id": "last", "tool": "echo", "needs": ["fan"]},
            ],
        }
        await self._run_workflow(document)

    async def _run_workflow(self, document: dict[str, object]) -> None:
        workflow = await self.client.submit_workflow(document)
        final = await self.client.wait_workflow(workflow.id)
        if final.state.value != "SUCCEEDED":
            raise RuntimeError(f"workflow {workflow.id} ended {final.state}: {final.message}")


def _check(task: Task) -> None:
    if task.state != TaskState.SUCCEEDED:
        raise RuntimeError(f"task {task.id} ended {task.state}: {task.failure}")
