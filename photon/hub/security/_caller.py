"""Who is calling: the verified principal, bound by the api edge for the whole of each call."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from ._tokens import Principal

_CALLER: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "photon_caller", default=None
)


def caller() -> Principal | None:
    """The principal of the call being served; None outside a call or for a public RPC."""
    return _CALLER.get()


@contextmanager
def calling_as(principal: Principal | None) -> Iterator[None]:
    """Bind `principal` as the caller for the code run inside."""
    token = _CALLER.set(principal)
    try:
        yield
    finally:
        _CALLER.reset(token)
