"""What went wrong, in the hub's terms: Z.AI's error codes, HTTP statuses, finish reasons and
socket errors mapped to failure classes and one-line messages.

Pure: no I/O, and nothing here knows the API key (callers redact what they raise).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ....errors import TaskFailed
from ....model import FailureClass

# Z.AI business error codes (the `error.code` of an error body) and what they mean for us.
_CODE_CLASSES: Final[Mapping[str, FailureClass]] = {
    **{str(code): FailureClass.AUTH for code in range(1000, 1005)},
    "1113": FailureClass.QUOTA,  # account in arrears, or the key's plan lacks this endpoint
    "1211": FailureClass.INVALID_INPUT,  # no such model
    "1301": FailureClass.TOOL_ERROR,  # content flagged as sensitive
    "1302": FailureClass.QUOTA,  # too many concurrent requests
}
# finish_reason values that mean the answer is not usable.
_BAD_FINISH: Final[Mapping[str, str]] = {
    "sensitive": "the response was blocked as sensitive content",
    "network_error": "the model service reported a network error",
}
_MAX_MESSAGE: Final = 500


def invalid(message: str) -> TaskFailed:
    """The failure for inputs no request can be made from."""
    return TaskFailed(f"zai: {message}", failure_class=FailureClass.INVALID_INPUT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """A classified failure, before the plugin words (and redacts) it as a TaskFailed."""

    detail: str
    failure_class: FailureClass
    retry_at: float | None = None


def error_failure(status: int, reason: str, raw: bytes, headers: Mapping[str, str]) -> Failure:
    """The classified failure for an error response (or an error event in the stream)."""
    code, message = _error_fields(raw)
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "…"
    failure_class = _CODE_CLASSES.get(code) or _status_class(status)
    content_type = headers.get("content-type", "")
    if code:
        what = f"error {code}"
    elif status == 200 and "text/event-stream" not in content_type:
        what = f"expected an event stream, got {content_type or 'no content type'}"
    else:
        what = f"HTTP {status} {reason}".rstrip()
    detail = f"{what}: {message}" if message else what
    if code and status != 200:
        detail += f" (HTTP {status})"
    retry_at = None
    after = headers.get("retry-after", "")
    if failure_class is FailureClass.QUOTA and after.isdigit():
        retry_at = time.time() + int(after)
    return Failure(detail=detail, failure_class=failure_class, retry_at=retry_at)


def finish_failure(finish_reason: str | None) -> Failure | None:
    """The failure a finish_reason means (the answer is not usable), or None."""
    bad_finish = _BAD_FINISH.get(finish_reason or "")
    if bad_finish is None:
        return None
    return Failure(
        detail=f"{bad_finish} (finish_reason {finish_reason})",
        failure_class=FailureClass.TOOL_ERROR,
    )


def _error_fields(raw: bytes) -> tuple[str, str]:
    """The (code, message) of an error body; the first line of a body that is not JSON."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        fields = error if isinstance(error, Mapping) else parsed
        message = fields.get("message") or fields.get("msg") or ""
        return str(fields.get("code") or ""), str(message)
    text = raw.decode("utf-8", "replace").strip()
    return "", text.splitlines()[0] if text else ""


def _status_class(status: int) -> FailureClass:
    if status in {401, 403}:
        return FailureClass.AUTH
    if status == 429:
        return FailureClass.QUOTA
    if status in {400, 404, 413, 422}:
        return FailureClass.INVALID_INPUT
    return FailureClass.TOOL_ERROR


def os_reason(exc: OSError) -> str:
    """Why a connection failed, in a few words."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: {exc.reason}: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror) or not (exc.errno and exc.errno > 0):
        return exc.strerror or str(exc) or type(exc).__name__
    # asyncio words a refused connection as "Connect call failed (address)"; the errno is clearer.
    return os.strerror(exc.errno)
