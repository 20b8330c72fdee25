"""`photon-hub init` creates what a hub needs once, and never clobbers it."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from .harness import make_env


def _init(env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photon.cli.hub", "init", "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_init_twice_keeps_the_ca_and_the_credential(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    data_dir = tmp_path / "hub"
    first = _init(env, data_dir)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created CA sha256:")
    ca = (data_dir / "ca.crt").read_bytes()
    context = Path(env["PHOTON_CONFIG"]).read_text()
    assert 'api-key = "phk_' in context

    for name in ("ca.key", "hub.key", "jwt.key", "secrets.key"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(Path(env["PHOTON_CONFIG"]).stat().st_mode) == 0o600

    second = _init(env, data_dir)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        first.stdout.splitlines()[0].replace("created CA", "kept the existing CA"),
        "an admin credential already exists; none created",
    ]
    assert (data_dir / "ca.crt").read_bytes() == ca
    assert Path(env["PHOTON_CONFIG"]).read_text() == context


def test_serve_without_init_says_what_to_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "empty"
    data_dir.mkdir(mode=0o700)
    result = subprocess.run(
        [sys.executable, "-m", "photon.cli.hub", "serve", "--data-dir", str(data_dir)],
        env=make_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {data_dir}/ca.key is missing; run: photon-hub init --data-dir {data_dir}"
    )
