"""The agent's outbox: results stay on disk until acked, whatever happened to the directory."""

from __future__ import annotations

from pathlib import Path

from photon.agent._outbox import Outbox
from photon.v1 import mesh_pb2


def result(task_id: str) -> mesh_pb2.TaskResult:
    ref = mesh_pb2.AttemptRef(task_id=task_id, attempt=1, epoch=1)
    return mesh_pb2.TaskResult(attempt=ref, ok=True, outputs_json="{}")


def test_results_stay_until_acked(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    assert outbox.pending() == []
    outbox.put(result("a"))  # makes the directory
    outbox.put(result("b"))
    assert (tmp_path / "outbox").stat().st_mode & 0o777 == 0o700
    assert [r.attempt.task_id for r in Outbox(tmp_path / "outbox").pending()] == ["a", "b"]
    outbox.ack(result("a").attempt)
    outbox.ack(result("a").attempt)  # twice is harmless
    assert [r.attempt.task_id for r in outbox.pending()] == ["b"]


def test_a_removed_directory_is_made_again(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.put(result("a"))
    outbox.ack(result("a").attempt)
    (tmp_path / "outbox").rmdir()
    outbox.put(result("b"))
    assert [r.attempt.task_id for r in outbox.pending()] == ["b"]


def test_a_torn_file_is_set_aside(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.put(result("a"))
    (tmp_path / "outbox" / "x.1.1.result").write_bytes(b"\xff\xff not a result")
    assert [r.attempt.task_id for r in outbox.pending()] == ["a"]
    assert (tmp_path / "outbox" / "x.1.1.corrupt").exists()
