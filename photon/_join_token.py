"""The join token string: everything an agent needs to enrol, in one opaque line."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import UsageError

PREFIX = "photon1."


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinToken:
    api_addresses: Sequence[str]
    ca_pin: str
    token_id: str
    secret: str

    def encode(self) -> str:
        body = json.dumps(
            {
                "api": list(self.api_addresses),
                "ca": self.ca_pin,
                "id": self.token_id,
                "secret": self.secret,
            },
            separators=(",", ":"),
        )
        return PREFIX + base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> JoinToken:
        """Raises UsageError when the text is not a PHOTON join token."""
        text = text.strip()
        if not text.startswith(PREFIX):
            raise UsageError("not a PHOTON join token (expected it to start with 'photon1.')")
        body = text.removeprefix(PREFIX)
        try:
            raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            token = cls(
                api_addresses=tuple(str(a) for a in raw["api"]),
                ca_pin=str(raw["ca"]),
                token_id=str(raw["id"]),
                secret=str(raw["secret"]),
            )
        except (ValueError, KeyError, TypeError, RecursionError, binascii.Error):
            raise UsageError("join token is corrupted (copy it again in full)") from None
        if not token.api_addresses or not token.ca_pin.startswith("sha256:"):
            raise UsageError("join token is corrupted (copy it again in full)")
        return token
