"""The agent's outbox journal: results stay until acked, across restarts and damaged tails."""

from __future__ import annotations

from pathlib import Path

import pytest

from photon.agent.session import Outbox, _outbox
from photon.v1 import mesh_pb2


def result(task_id: str, epoch: int = 1) -> mesh_pb2.TaskResult:
    ref = mesh_pb2.AttemptRef(task_id=task_id, attempt=1, epoch=epoch)
    return mesh_pb2.TaskResult(attempt=ref, ok=True, outputs_json=f'{{"id": "{task_id}"}}')


def ids(outbox: Outbox) -> list[str]:
    return [r.attempt.task_id for r in outbox.pending()]


def test_results_stay_until_acked_across_restarts(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    assert outbox.pending() == []
    assert (tmp_path / "outbox").stat().st_mode & 0o777 == 0o700
    for task_id in "abc":
        outbox.put(result(task_id))
    outbox.ack(result("b").attempt)
    outbox.ack(result("b").attempt)  # twice is harmless
    outbox.ack(result("a", epoch=2).attempt)  # another attempt's ack leaves this one
    # Not closed: a killed agent leaves the journal as it is.
    again = Outbox(tmp_path / "outbox")
    assert ids(again) == ["a", "c"]
    assert again.pending()[1] == result("c")
    again.ack(result("a").attempt)
    again.close()
    assert ids(Outbox(tmp_path / "outbox")) == ["c"]


def test_a_damaged_tail_is_dropped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.put(result("a"))
    outbox.put(result("b"))
    outbox.close()
    journal = tmp_path / "outbox" / "outbox.log"
    journal.write_bytes(journal.read_bytes()[:-3])  # a machine crash mid-append
    assert ids(Outbox(tmp_path / "outbox")) == ["a"]
    journal.write_bytes(journal.read_bytes() + b"\xff\x00\x00\x00\x02zz")  # not a record
    assert ids(Outbox(tmp_path / "outbox")) == ["a"]


def test_the_journal_is_emptied_and_rewritten_as_it_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_outbox, "EMPTY_AT", 1_000)
    monkeypatch.setattr(_outbox, "REWRITE_AT", 4_000)
    journal = tmp_path / "outbox" / "outbox.log"
    outbox = Outbox(tmp_path / "outbox")
    for i in range(40):
        outbox.put(result(f"t{i}"))
        outbox.ack(result(f"t{i}").attempt)
    assert journal.stat().st_size < 1_000, "emptied once nothing was pending"
    outbox.put(result("kept"))
    for i in range(100):
        outbox.put(result(f"u{i}"))
        outbox.ack(result(f"u{i}").attempt)
    assert journal.stat().st_size < 4_000, "rewritten to the pending result"
    assert ids(Outbox(tmp_path / "outbox")) == ["kept"]
