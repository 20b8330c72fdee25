"""The audit trail's hash chain names the first bad record of a log that was edited, had a
record removed, was reordered or was cut short."""

from __future__ import annotations

from dataclasses import replace

from photon.hub.core import AUDIT_GENESIS, AuditEntry, AuditHead, AuditRecord
from photon.hub.core import first_audit_break as first_break
from photon.hub.core import link_audit as link


def chain(n: int) -> list[AuditRecord]:
    records, prev = [], AUDIT_GENESIS
    for seq in range(1, n + 1):
        entry = AuditEntry(
            time=float(seq), actor="ada", action="admin.CancelTask", target=f"t{seq}"
        )
        record = link(seq, entry, prev)
        records.append(record)
        prev = record.hash
    return records


def head(records: list[AuditRecord]) -> AuditHead:
    return AuditHead(seq=records[-1].seq, hash=records[-1].hash)


def test_an_intact_log_has_no_break() -> None:
    log = chain(5)
    assert first_break(log, head(log)) is None
    assert first_break([], None) is None
    assert first_break(log[:3], head(log[:3])) is None


def test_an_edited_record_is_named() -> None:
    log = chain(5)
    edited = replace(log[2], entry=replace(log[2].entry, actor="mallory"))
    assert first_break([*log[:2], edited, *log[3:]], head(log)) == (
        "record 3 was altered (its hash does not match its contents)"
    )
    # Rehashing the edited record does not help: the next one no longer follows it.
    rehashed = link(3, edited.entry, log[1].hash)
    assert first_break([*log[:2], rehashed, *log[3:]], head(log)) == (
        "record 4 was altered (its hash does not match its contents)"
    )


def test_a_deleted_record_is_named() -> None:
    log = chain(5)
    assert first_break([*log[:1], *log[2:]], head(log)) == (
        "record 2 is missing (found record 3 in its place)"
    )


def test_reordered_records_are_named() -> None:
    log = chain(5)
    swapped = [log[0], replace(log[2], seq=2), replace(log[1], seq=3), *log[3:]]
    assert first_break(swapped, head(log)) == (
        "record 2 was altered (its hash does not match its contents)"
    )
    assert first_break([log[0], log[2], log[1], *log[3:]], head(log)) == (
        "record 2 is missing (found record 3 in its place)"
    )


def test_a_log_cut_short_is_caught_by_the_anchored_head() -> None:
    log = chain(5)
    assert first_break(log[:3], head(log)) == (
        "records 4 to 5 are missing (the log was cut after 3)"
    )
    # Cut and regrown to the anchored length: the anchored record is not the one it was.
    regrown = [*log[:3], *chain(5)[3:]]
    other = [
        *log[:3],
        link(4, replace(log[3].entry, target="x"), log[2].hash),
    ]
    other.append(link(5, log[4].entry, other[-1].hash))
    assert first_break(regrown, head(log)) is None  # the same records: nothing was changed
    assert first_break(other, head(log)) == (
        "record 5 is not the one anchored (the log was rewritten)"
    )
