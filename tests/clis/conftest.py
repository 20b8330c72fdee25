"""The real AI CLIs, installed by `make test-clis` into a cache and named by PHOTON_CLI_BIN.

Outside `make test-clis` (a plain `pytest`), these tests are skipped with the reason; under it,
a missing CLI is an error, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .matrix import matrix_path, table

_BIN = os.environ.get("PHOTON_CLI_BIN", "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _BIN:
        return
    skip = pytest.mark.skip(reason="the real CLIs run under `make test-clis`")
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cli_bin() -> Path:
    """The folder holding the real `claude`, `gemini` and `codex`."""
    folder = Path(_BIN)
    for name in ("claude", "gemini", "codex"):
        if not os.access(folder / name, os.X_OK):
            pytest.fail(f"{folder / name} is missing: run make test-clis")
    return folder


def pytest_configure(config: pytest.Config) -> None:
    if _BIN and not hasattr(config, "workerinput"):  # the controller, once per run
        matrix_path().unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _BIN and (text := table()):
        terminalreporter.write_sep("=", "real-CLI matrix")
        terminalreporter.write_line(text)
