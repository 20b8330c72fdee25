"""Plugins as users meet them: a pip-installed package that a real agent offers to the hub,
a broken one that does not take the agent down, and agent.toml settings reaching the tools.

The example package is installed into a throw-away `--target` directory put on the agent's
PYTHONPATH, so the shared virtualenv is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .harness import Mesh

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-plugin"

BROKEN_MODULE = 'raise ImportError("photon_broken needs libfrobnicate, which is not installed")\n'


@pytest.fixture(scope="module")
def hello_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package, pip-installed into its own site directory."""
    work = tmp_path_factory.mktemp("hello")
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = shutil.copytree(
        EXAMPLE, work / "src", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    site = work / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(site),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    assert (site / "photon_hello" / "__init__.py").is_file()
    return site


@pytest.fixture
def broken_site(tmp_path: Path) -> Path:
    """An installed distribution whose `photon.plugins` entry point fails to import."""
    site = tmp_path / "broken-site"
    dist = site / "photon_broken-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: photon-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[photon.plugins]\nbroken = photon_broken:Plugin\n")
    (site / "photon_broken.py").write_text(BROKEN_MODULE)
    return site


def test_the_example_passes_its_own_tests(hello_site: Path) -> None:
    """What the plugin's author runs: its tests, on PHOTON's testing harness."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=EXAMPLE,
        env={**_clean_env(), "PYTHONPATH": str(hello_site)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


async def test_an_installed_plugin_runs_through_the_hub(mesh: Mesh, hello_site: Path) -> None:
    await mesh.agent("host-1", env={"PYTHONPATH": str(hello_site)})

    shown = mesh.ctl("agents", "show", "host-1", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    tools = {t["name"]: t for t in json.loads(shown.stdout)["tools"]}
    assert tools["hello"]["version"] == "0.1.0"
    assert tools["hello"]["available"] and tools["hello"]["enabled"]

    ran = mesh.ctl("run", "hello", "--input", "name=Ada", "-o", "json")
    assert ran.returncode == 0, ran.stderr
    task = json.loads(ran.stdout)
    assert task["state"] == "SUCCEEDED"
    assert task["outputs"] == {"greeting": "Hello, Ada!"}


async def test_agent_settings_reach_the_plugin(mesh: Mesh, hello_site: Path) -> None:
    data_dir = mesh.join("host-2")
    (data_dir / "agent.toml").write_text('[tools.hello]\ngreeting = "Howdy"\n')
    mesh.start_agent(data_dir, env={"PYTHONPATH": str(hello_site)})
    await mesh.wait_agent_state("host-2", "connected")

    ran = mesh.ctl("run", "hello", "--input", "name=Grace", "-o", "json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["outputs"] == {"greeting": "Howdy, Grace!"}


async def test_a_broken_plugin_is_reported_and_the_agent_keeps_working(
    mesh: Mesh, broken_site: Path
) -> None:
    proc = await mesh.agent("host-3", env={"PYTHONPATH": str(broken_site)})

    shown = mesh.ctl("agents", "show", "host-3", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    tools = {t["name"]: t for t in json.loads(shown.stdout)["tools"]}
    assert not tools["broken"]["available"]
    assert not tools["broken"]["enabled"]
    assert tools["broken"]["detail"] == (
        "plugin 'broken' failed to load: ImportError: "
        "photon_broken needs libfrobnicate, which is not installed"
    )
    assert tools["echo"]["available"] and tools["echo"]["enabled"]
    assert "plugin 'broken' failed to load" in proc.output()

    echo = mesh.ctl("run", "echo", "--agent", "host-3", "--input", "n:=1", "-o", "json")
    assert echo.returncode == 0, echo.stderr
    assert json.loads(echo.stdout)["outputs"] == {"n": 1}

    broken = mesh.ctl("run", "broken", "--agent", "host-3", timeout=30)
    assert broken.returncode == 1
    assert proc.popen is not None and proc.popen.poll() is None  # still running


async def test_a_bad_agent_config_stops_the_agent_with_one_line(mesh: Mesh) -> None:
    data_dir = mesh.join("host-4")
    config = data_dir / "agent.toml"
    config.write_text("[tools.shell]\nenabled = 'yes'\n")
    result = mesh.run("-m", "photon.cli.agent", "run", "--data-dir", str(data_dir))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: agent config {config}: tools.shell.enabled must be true or false"
    )


async def test_files_and_http_work_in_the_configured_workspace(mesh: Mesh) -> None:
    data_dir = mesh.join("host-5")
    (data_dir / "agent.toml").write_text(
        'workspace_roots = ["ws"]\n'  # relative to the file
        '[tools.http]\nallow_networks = ["127.0.0.1/32"]\n'  # the test's server, nothing more
    )
    mesh.start_agent(data_dir)
    await mesh.wait_agent_state("host-5", "connected")

    wrote = mesh.ctl(
        "run",
        "files",
        "write",
        "--input",
        "path=notes/a.txt",
        "--input",
        "content=hi",
        "--input",
        "make_dirs:=true",
        "-o",
        "json",
    )
    assert wrote.returncode == 0, wrote.stderr
    assert json.loads(wrote.stdout)["outputs"] == {"path": "notes/a.txt", "size": 2}
    assert (data_dir / "ws" / "notes" / "a.txt").read_text() == "hi"

    listed = mesh.ctl("run", "files", "--input", "recursive:=true", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    paths = [e["path"] for e in json.loads(listed.stdout)["outputs"]["entries"]]
    assert paths == ["notes", "notes/a.txt"]

    escaped = mesh.ctl("run", "files", "read", "--input", "path=../agent.toml")
    assert escaped.returncode == 1
    assert "outside the workspace" in escaped.stderr

    with _http_server() as url:
        got = mesh.ctl("run", "http", "--input", f"url={url}", "-o", "json")
        # The setting reached the plugin: only what it lists is allowed.
        port = url.split(":")[2].split("/")[0]
        elsewhere = mesh.ctl("run", "http", "--input", f"url=http://2130706434:{port}/")
    assert got.returncode == 0, got.stderr
    outputs = json.loads(got.stdout)["outputs"]
    assert (outputs["status"], outputs["json"]) == (200, {"ok": True})
    assert elsewhere.returncode == 1
    assert "2130706434 (127.0.0.2) is a loopback address" in elsewhere.stderr
    assert 'allow_networks = ["127.0.0.2/32"]' in elsewhere.stderr


@contextlib.contextmanager
def _http_server() -> Iterator[str]:
    class Ok(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/health"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOTON_", "PYTEST_"))}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1"}  # leave no __pycache__ in examples/
