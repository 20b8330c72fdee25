"""Who is calling: the verified principal, bound by the api edge for the whole of each call."""

from __future__ import annotations

import contextvars

from ._tokens import Principal

_CALLER: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "photon_caller", default=None
)


def caller() -> Principal | None:
    """The principal of the call being served; None outside a call or for a public RPC."""
    return _CALLER.get()


def bind_caller(principal: Principal | None) -> None:
    """Bind `principal` as the caller for the rest of the running task. gRPC serves each call
    in a task of its own, so the binding ends with the call; it is not reset on the way out,
    since a server stream's generator may be closed from another context (a dropped stream's,
    at garbage collection), where a reset would raise."""
    _CALLER.set(principal)
