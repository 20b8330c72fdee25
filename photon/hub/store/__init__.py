"""The store layer: the persistence contract and its implementations (SQLite for now)."""

from ._open import open_store as open_store
from ._protocol import AuditStore as AuditStore
from ._protocol import CredentialStore as CredentialStore
from ._protocol import EnrolmentStore as EnrolmentStore
from ._protocol import SecretStore as SecretStore
from ._protocol import Store as Store
from ._protocol import TaskStore as TaskStore
from ._protocol import WorkflowStore as WorkflowStore
from .sqlite import SqliteStore as SqliteStore

__all__ = [
    "AuditStore",
    "CredentialStore",
    "EnrolmentStore",
    "SecretStore",
    "SqliteStore",
    "Store",
    "TaskStore",
    "WorkflowStore",
    "open_store",
]
