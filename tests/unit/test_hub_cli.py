"""`photon-hub serve` settings from flags, environment and config file: the agent certificate
lifetime."""

from __future__ import annotations

from pathlib import Path

import pytest

from photon.cli import hub
from photon.errors import UsageError


def config(tmp_path: Path, *flags: str, file: str = "", **env: str) -> float:
    path = tmp_path / "hub.toml"
    path.write_text(file)
    args = hub._parser().parse_args(["serve", "--config", str(path), *flags])
    return hub._hub_config(args, {"HOME": str(tmp_path), **env}).agent_cert_ttl


def test_agent_certificates_last_a_day_unless_told(tmp_path: Path) -> None:
    assert config(tmp_path) == 86400.0


def test_the_lifetime_comes_from_the_flag_then_env_then_file(tmp_path: Path) -> None:
    file = 'agent-cert-ttl = "12h"\n'
    assert config(tmp_path, file=file) == 12 * 3600
    assert config(tmp_path, file='agent_cert_ttl = "7d"\n') == 7 * 86400
    assert config(tmp_path, file="agent-cert-ttl = 90\n") == 90.0
    assert config(tmp_path, file=file, PHOTON_AGENT_CERT_TTL="2h") == 7200.0
    assert config(tmp_path, "--agent-cert-ttl", "15m", file=file) == 900.0


@pytest.mark.parametrize(
    ("flags", "file", "message"),
    [
        (
            ["--agent-cert-ttl", "29s"],
            "",
            "--agent-cert-ttl 29s: an agent certificate's lifetime must be from 30s to 365d",
        ),
        (
            ["--agent-cert-ttl", "366d"],
            "",
            "--agent-cert-ttl 366d: an agent certificate's lifetime must be from 30s to 365d",
        ),
        (
            ["--agent-cert-ttl", "soon"],
            "",
            "--agent-cert-ttl soon: invalid duration 'soon':"
            " expected e.g. 90, 90s, 15m, 1h30m, 500ms or 2d",
        ),
        ([], "agent-cert-ttl = true\n", "agent-cert-ttl True: expected a duration such as 24h"),
    ],
)
def test_a_nonsense_lifetime_is_one_usage_line(
    tmp_path: Path, flags: list[str], file: str, message: str
) -> None:
    with pytest.raises(UsageError) as refused:
        config(tmp_path, *flags, file=file)
    assert str(refused.value).endswith(message)
    assert "\n" not in str(refused.value)


def test_serve_exits_2_with_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub.main(["serve", "--data-dir", str(tmp_path), "--agent-cert-ttl", "1s"]) == 2
    assert capsys.readouterr().err == (
        "error: --agent-cert-ttl 1s: an agent certificate's lifetime must be from 30s to 365d\n"
    )
