"""`make demo`: a hub on its embedded SQLite store, three agents, tasks across them, then the
flagship workflow (examples/full-stack-feature.yaml) across the agents.

The workflow's AI tools run for real where their CLIs are on PATH; the others are pointed at the
simulators in examples/simulators, and the demo says so. PHOTON_DEMO_SIMULATE=1 uses the
simulators even where a real CLI is installed. Everything lives in a throw-away directory and
every process it starts is stopped at the end, also when a step fails or the demo is interrupted.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PYTHON = sys.executable
EXAMPLES = Path(__file__).resolve().parent
SIMULATORS = EXAMPLES / "simulators"
WORKFLOW = EXAMPLES / "full-stack-feature.yaml"
DEPLOY_SCRIPT = EXAMPLES / "deploy.sh"
# The workflow's AI tools: (PHOTON tool, its CLI, the workflow step that uses it).
AI_TOOLS = [
    ("cursor-agent", "cursor-agent", "ui"),
    ("claude-code", "claude", "api"),
    ("gemini-cli", "gemini", "review"),
]
AGENTS = [
    ("local-1", "kind=local", []),
    ("cloud-1", "kind=cloud", ["--allow-tool", "shell"]),
    ("edge-1", "kind=edge", []),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Demo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []
        self.agent_env: dict[str, str] | None = None
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PHOTON_")},
            # Keep the demo's client context out of the user's own ~/.config/photon.
            "PHOTON_CONFIG": str(root / "photonctl.toml"),
            "PYTHONUNBUFFERED": "1",
        }

    def step(self, text: str) -> None:
        print(f"\n== {text}", flush=True)

    def run(self, tool: str, *args: str, show: bool = True, check: bool = True) -> str:
        module = {"photon-hub": "hub", "photon-agent": "agent", "photonctl": "ctl"}[tool]
        argv = [PYTHON, "-m", f"photon.cli.{module}", *args]
        if not show:
            result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=120)
            returncode, output = result.returncode, result.stdout
        else:
            print(f"$ {tool} {shlex.join(args)}", flush=True)
            # Shown commands stream their progress (stderr) and result (stdout) line by line,
            # interleaved as in a terminal.
            proc = subprocess.Popen(
                argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            timer = threading.Timer(120, proc.kill)
            timer.start()
            lines = []
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    lines.append(line)
                returncode = proc.wait()
            finally:
                timer.cancel()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            output = "".join(lines)
        if check and returncode != 0:
            raise SystemExit(f"demo failed: {tool} {' '.join(args)} exited {returncode}")
        return output

    def start(self, tool: str, *args: str, log: str, env: dict[str, str] | None = None) -> None:
        module = {"photon-hub": "hub", "photon-agent": "agent"}[tool]
        print(f"$ {tool} {shlex.join(args)} &   (log: {self.root / log})", flush=True)
        with (self.root / log).open("wb") as out:
            self.procs.append(
                subprocess.Popen(
                    [PYTHON, "-m", f"photon.cli.{module}", *args],
                    env=env or self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    def ai_tools_config(self) -> Path:
        """The agents' config file: each AI tool whose CLI is missing (or all of them with
        PHOTON_DEMO_SIMULATE=1) gets `binary` pointing at its simulator in examples/simulators.
        """
        force = os.environ.get("PHOTON_DEMO_SIMULATE", "") not in ("", "0")
        lines = ["# Written by examples/demo.py for the demo's agents (photon-agent run --config)."]
        for tool, binary, step in AI_TOOLS:
            real = shutil.which(binary)
            if real and not force:
                print(
                    f"{binary} found at {real}: the {step} step runs it for real"
                    " (it needs its API key or login)"
                )
                continue
            if real:
                print(
                    f"{binary} found at {real}, but PHOTON_DEMO_SIMULATE is set: using the"
                    " simulator in examples/simulators"
                )
            else:
                print(
                    f"{binary} not installed: using the simulator in examples/simulators"
                    " (set up the real CLI and its API key to run this for real)"
                )
            lines += ["", f"[tools.{tool}]", f"binary = {json.dumps(str(SIMULATORS / binary))}"]
        path = self.root / "agent.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def wait_until(self, what: str, check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not check():
            if any(p.poll() is not None for p in self.procs):
                raise SystemExit(f"demo failed: a process exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise SystemExit(f"demo failed: timed out waiting for {what}")
            time.sleep(0.1)

    def main(self) -> None:
        hub_dir = self.root / "hub"
        mesh, api = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        self.step("Initialise a hub (CA, keys, admin credential) in a throw-away data dir")
        self.run("photon-hub", "init", "--data-dir", str(hub_dir), "--api-address", api)
        self.step("Start the hub on its embedded SQLite store")
        self.start(
            "photon-hub",
            "serve",
            "--data-dir",
            str(hub_dir),
            "--listen",
            mesh,
            "--api-listen",
            api,
            "--http-listen",
            "127.0.0.1:0",
            log="hub.log",
        )
        self.wait_until("the hub", (hub_dir / "serving.json").exists)

        self.step("The workflow's AI tools: real CLIs where installed, else simulators")
        config = self.ai_tools_config()
        print(f"agent config: {config}")

        self.step("Join three agents, one command each")
        for name, labels, extra in AGENTS:
            token = self.run(
                "photonctl", "join-token", "create", "--labels", labels, show=False
            ).strip()
            print(f"$ photonctl join-token create --labels {labels}\n{token[:40]}...")
            data_dir = self.root / name
            self.run(
                "photon-agent",
                "join",
                "--token",
                token,
                "--name",
                name,
                "--data-dir",
                str(data_dir),
            )
            self.start(
                "photon-agent",
                "run",
                "--data-dir",
                str(data_dir),
                "--config",
                str(config),
                *extra,
                log=f"{name}.log",
                env=self.agent_env,
            )

        def all_heartbeating() -> bool:
            out = self.run("photonctl", "agents", "list", "-o", "json", show=False, check=False)
            try:
                agents = json.loads(out)
            except ValueError:
                return False
            return len(agents) == 3 and all(
                a["state"] == "connected" and a["metrics"] for a in agents
            )

        self.wait_until("three agents to heartbeat", all_heartbeating)
        self.step("The fleet, with live metrics from heartbeats")
        self.run("photonctl", "agents", "list")
        self.run("photonctl", "agents", "show", "cloud-1")

        self.step("Run tasks across the mesh")
        for kind in ("local", "cloud", "edge"):
            self.run(
                "photonctl",
                "run",
                "echo",
                "--selector",
                f"kind={kind}",
                "--input",
                f"message=hello from the {kind} agent",
            )
        self.run("photonctl", "run", "shell", "--input", 'argv:=["uname", "-sm"]')
        self.step("A tool an agent does not allow is refused with a clear message")
        self.run(
            "photonctl",
            "run",
            "shell",
            "--agent",
            "edge-1",
            "--input",
            'argv:=["true"]',
            check=False,
        )
        self.step("Recent tasks")
        self.run("photonctl", "tasks", "list")

        self.step("The flagship workflow: UI (local), then API (cloud), review, deploy (cloud)")
        out = self.run(
            "photonctl",
            "workflow",
            "run",
            display_path(WORKFLOW),
            "--input",
            f"deploy_script={DEPLOY_SCRIPT}",
            "--input",
            "environment=staging",
        )
        match = re.search(r"^workflow \S+ \((\S+)\)", out, re.MULTILINE)
        if match:
            self.step("What each step produced (the later steps' prompts quote the results)")
            shown = self.run(
                "photonctl", "workflow", "show", match.group(1), "-o", "json", show=False
            )
            for step in json.loads(shown)["steps"]:
                outputs = step.get("outputs") or {}
                text = outputs.get("result") or outputs.get("stdout") or ""
                print(f"{step['id']}: " + text.strip().replace("\n", "\n" + " " * 4))
        self.step("What the AI tools spent, by tool and by workflow")
        self.run("photonctl", "report", "cost", "--since", "1h", "--by", "tool")
        self.run("photonctl", "report", "cost", "--since", "1h", "--by", "workflow")
        self.step("A snapshot of the fleet, queues and running tasks (live on a terminal)")
        self.run("photonctl", "top")
        print("\ndemo finished: stopping the hub and agents", flush=True)


def display_path(path: Path) -> str:
    """`path` relative to the current directory when it is inside it (as make demo runs)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="photon-demo-"))
    root.chmod(0o700)
    demo = Demo(root)
    # SIGTERM ends the demo like Ctrl-C does, so the finally below stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        demo.main()
    finally:
        demo.stop_all()
    print(f"logs and data: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
