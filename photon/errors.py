"""PHOTON's errors: one base, a few families; foreign errors are translated at the boundary."""

from __future__ import annotations

from .model import FailureClass


class PhotonError(Exception):
    """Base of every error PHOTON raises on purpose."""


class ConfigError(PhotonError):
    """A config value, file, flag or data dir is wrong."""


class UsageError(ConfigError):
    """The user called a command wrongly (bad flag or argument value)."""


class TransportError(PhotonError):
    """The peer could not be reached or the connection broke."""


class AuthError(PhotonError):
    """Credentials are missing, invalid, expired or not allowed to do this."""


class PermissionDeniedError(AuthError):
    """Authenticated, but the role does not allow this call."""


class NotFoundError(PhotonError):
    """The named object does not exist."""


class ConflictError(PhotonError):
    """The request conflicts with the current state."""


class InvalidArgumentError(PhotonError):
    """A request field is malformed."""


class RateLimitedError(PhotonError):
    """Too many requests, or too many failed ones, from one peer: it may try again later."""


class StoreError(PhotonError):
    """The hub's store could not commit, even after retrying: the hub stops serving."""


class SecretError(PhotonError):
    """A stored secret does not open: the secrets key is not the one that sealed it, or the
    stored bytes were altered."""


class PluginError(PhotonError):
    """A plugin failed to load or broke its contract."""


class TaskFailed(PhotonError):
    """A task attempt failed; carries the failure class (the hub's retry policy decides on it)."""

    def __init__(
        self,
        message: str,
        *,
        failure_class: FailureClass = FailureClass.TOOL_ERROR,
        retry_at: float | None = None,
    ) -> None:
        super().__init__(message)
        self.failure_class = failure_class
        self.retry_at = retry_at


class CertificateError(PhotonError):
    """A certificate, key or CSR is malformed, untrusted or does not match what was expected."""
