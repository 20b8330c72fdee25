"""Helpers for the dashboard tests: one-time links from photonctl, plain HTTP sessions, and a
headless Chromium (Debian's) driven by playwright."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from .harness import Mesh

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def login_url(mesh: Mesh, api_key: str | None = None) -> str:
    """A one-time link from `photonctl dashboard --print-url` (as the context's user, or as
    the user of `api_key`)."""
    env = {**mesh.env, "PHOTON_API_KEY": api_key} if api_key else mesh.env
    result = mesh.run("-m", "photon.cli.ctl", "dashboard", "--print-url", env=env)
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith(f"http://127.0.0.1:{mesh.serving['http'].rsplit(':', 1)[1]}/login?code=")
    return url


@dataclass
class Browserless:
    """A plain HTTP client with a cookie jar, for what needs no page."""

    base: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self) -> None:
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(
        self, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        url = path if path.startswith("http") else self.base + path
        request = urllib.request.Request(url, method=method, headers=headers or {})
        try:
            with self._opener.open(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, body = self.request(path, **kwargs)
        return status, json.loads(body)


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
