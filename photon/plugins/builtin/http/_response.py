"""What the `http` tool got back: the response as read, its outputs, and the failure a status
means when the task asked to fail on one.

Pure (no network code); needed once there is a response, so the plugin imports it at its first
request, with the fetch client.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ....errors import TaskFailed
from ....model import FailureClass


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    status: int
    reason: str
    url: str
    headers: Mapping[str, str]
    content_type: str
    charset: str
    body: bytes
    truncated: bool

    def text(self) -> str:
        try:
            return self.body.decode(self.charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")

    def outputs(self) -> dict[str, Any]:
        text = self.text()
        outputs: dict[str, Any] = {
            "status": self.status,
            "reason": self.reason,
            "url": self.url,
            "headers": dict(self.headers),
            "body": text,
            "truncated": self.truncated,
        }
        if not self.truncated and _is_json(self.content_type):
            try:
                outputs["json"] = json.loads(text)
            except ValueError:
                pass  # it said JSON but is not: the body is still there
        return outputs


def status_failure(what: str, response: Response) -> TaskFailed:
    """The failure for a non-2xx status: 401/403 `auth`, 429 `quota` (retry time from
    Retry-After), any other `tool_error`."""
    message = f"http: {what}: {response.status} {response.reason}".rstrip()
    if response.status in {401, 403}:
        return TaskFailed(message, failure_class=FailureClass.AUTH)
    if response.status == 429:
        retry_at = _retry_at(response.headers.get("retry-after", ""))
        return TaskFailed(message, failure_class=FailureClass.QUOTA, retry_at=retry_at)
    return TaskFailed(message, failure_class=FailureClass.TOOL_ERROR)


def _retry_at(value: str) -> float | None:
    """Retry-After (seconds or an HTTP date) as a wall-clock time, or None."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return time.time() + int(value)
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")
