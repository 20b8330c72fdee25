"""The audit trail: who did what, when, with what outcome, in a tamper-evident chain."""

from ._trail import AuditTrail as AuditTrail

__all__ = ["AuditTrail"]
