"""examples/prometheus: the scrape config and alerting rules are valid, and each alert fires on
trouble and stays quiet on a healthy hub (promtool's own rule tests, rules_test.yml)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: make system-tools installs it (Debian's prometheus)")
    return subprocess.run(
        [tool, *args], cwd=EXAMPLES, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "rules.yml"),
        ("test", "rules", "rules_test.yml"),
    ],
)
def test_promtool_accepts_the_examples(args: tuple[str, ...]) -> None:
    checked = promtool(*args)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    rules = yaml.safe_load((EXAMPLES / "rules.yml").read_text())
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"]}
    tests = yaml.safe_load((EXAMPLES / "rules_test.yml").read_text())["tests"]
    fired = {c["alertname"] for t in tests for c in t["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["alertname"] for t in tests for c in t["alert_rule_test"] if not c["exp_alerts"]}
    assert len(alerts) >= 8
    assert fired == alerts
    assert quiet == alerts


def test_the_rules_use_only_series_the_hub_exports() -> None:
    exported = (Path(__file__).resolve().parents[2] / "photon/hub/web/_metrics.py").read_text()
    names = set(re.findall(r"\bphoton_[a-z_]+", (EXAMPLES / "rules.yml").read_text()))
    for name in names:
        base = re.sub(r"_(total|bucket|sum|count)$", "", name)
        assert f'"{base}"' in exported, name
