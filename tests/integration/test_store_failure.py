"""A store that cannot commit stops the hub loudly, and nobody was told of what it lost.

The fault is real: the hub's data dir is a small filesystem of its own, filled up while tasks
run, so SQLite's commits (and the audit trail's anchor) fail with "disk is full".
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from photon.client import PhotonClient
from photon.errors import PhotonError

from .harness import Mesh, free_port, make_env, wait_for

FS_SIZE = "48m"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs where the hub's data dir will be (mounting needs root, as CI has)."""
    mount_point = tmp_path / "hub"
    mount_point.mkdir(mode=0o700)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE},mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Take every free byte of the filesystem `directory` is on."""
    filler = directory / "filler"
    with filler.open("wb") as out:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError:
            pass
    while True:  # the last partial chunks
        try:
            with filler.open("ab") as out:
                out.write(b"\0" * 4096)
        except OSError:
            return filler


def readyz(mesh: Mesh) -> int | None:
    try:
        with urllib.request.urlopen(f"http://{mesh.serving['http']}/readyz", timeout=1) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def stored(hub_dir: Path) -> dict[str, str]:
    with sqlite3.connect(f"file:{hub_dir / 'hub.db'}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT id, state FROM tasks").fetchall())


async def test_a_full_disk_stops_the_hub_and_loses_nothing_anyone_was_told(
    tmp_path: Path, small_fs: Path
) -> None:
    tmp_path.chmod(0o700)
    mesh = Mesh(root=tmp_path, env=make_env(tmp_path), mesh_port=free_port(), api_port=free_port())
    mesh.init()
    hub = await mesh.start_hub()
    try:
        await mesh.agent("worker", "--slots", "8")
        accepted: set[str] = set()  # tasks the client was told were accepted
        told_ends: dict[str, str] = {}  # tasks the client was told had ended, and how
        blob = "x" * 50_000  # so the database grows fast once the disk is full

        async def submit_until_refused(client: PhotonClient) -> None:
            while True:
                try:
                    task = await client.submit("echo", inputs={"blob": blob, "sleep": 0.05})
                except PhotonError:
                    return
                accepted.add(task.id)

        async def run_until_refused(client: PhotonClient) -> None:
            while True:
                try:
                    task = await client.run("echo", inputs={"blob": blob})
                except PhotonError:
                    return
                accepted.add(task.id)
                told_ends[task.id] = task.state.value

        async with mesh.client() as client:
            for _ in range(10):  # the hub works before the fault
                task = await client.run("echo", inputs={"n": 1})
                told_ends[task.id] = task.state.value
            assert readyz(mesh) == 200
            workers = [
                asyncio.ensure_future(submit_until_refused(client)),
                asyncio.ensure_future(run_until_refused(client)),
            ]
            await wait_for(lambda: len(accepted) >= 20)
            filler = await asyncio.to_thread(fill, small_fs)

            # Stops serving at once: /readyz no longer answers 200 while it shuts down.
            await wait_for(lambda: readyz(mesh) != 200, timeout=30)
            assert hub.popen is not None
            code = await asyncio.to_thread(hub.popen.wait, 30)
            await asyncio.gather(*workers)

        assert code == 1
        log = hub.output()
        assert "hub stops serving" in log
        last_line = log.strip().splitlines()[-1]
        # One line naming the full disk: the store's commit or the audit trail's anchor,
        # whichever of the hub's writes met it first.
        assert last_line.startswith("error: ")
        assert "database or disk is full" in last_line or "No space left on device" in last_line
        assert "Traceback" not in log

        # Room again: the restarted hub reloads from the store and finishes what it accepted.
        filler.unlink()
        await mesh.start_hub()
        after_restart = stored(mesh.hub_dir)
        assert accepted <= after_restart.keys()  # no accepted task is missing
        for task_id, state in told_ends.items():  # no end told that is not in the store
            assert after_restart[task_id] == state
        async with mesh.client() as client:
            finals = await client.wait_many(sorted(accepted))
        assert {t.state.value for t in finals} == {"SUCCEEDED"}
        assert len(accepted) >= 20
    finally:
        mesh.stop_all()
