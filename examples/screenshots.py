"""`make screenshots`: docs/screenshots/*.png, one per dashboard view, from a live demo mesh.

It runs `make demo` (a hub, three agents, tasks and the flagship workflow, the AI tools on their
simulators), adds some load (tasks running and queued, a failure, a tool out of quota on an
agent), logs in through
`photonctl dashboard --print-url` in Debian's headless Chromium and photographs each view.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
OUT = EXAMPLES.parent / "docs" / "screenshots"
sys.path.insert(0, str(EXAMPLES))

from demo import Demo  # noqa: E402  (examples/demo.py, beside this file)

from photon.model import RetryPolicy  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TICKS = ["sh", "-c", "for i in $(seq 1 900); do echo building step $i; sleep 1; done"]


async def add_load(demo: Demo) -> str:
    """A history of quick runs (some failing), then tasks running and waiting; the id of the
    long-running one."""
    from photon.client import PhotonClient, load_context, task_spec

    context = load_context(Path(demo.env["PHOTON_CONFIG"]))
    async with PhotonClient.from_context(context) as client:
        history = [
            task_spec(
                "echo",
                inputs={"sleep": 0.2 + (index % 7) * 0.15, "log": f"check {index}"}
                | ({"fail": "flaky check", "fail_class": "tool_error"} if index % 9 == 4 else {}),
                retry=RetryPolicy(max_attempts=1),
            )
            for index in range(36)
        ]
        await client.wait_many([t.id for t in await client.submit_many(history)])
        # A tool out of quota on one agent (for a minute: echo gives no reset time).
        spent = await client.submit(
            "echo",
            inputs={"fail": "usage limit reached", "fail_class": "quota"},
            agent="edge-1",
            retry=RetryPolicy(max_attempts=1),
        )
        await client.wait(spent.id)
        long = await client.submit("shell", "run", inputs={"argv": TICKS}, timeout=1200)
        batch = [
            task_spec("echo", inputs={"sleep": 600, "log": f"batch item {index}"})
            for index in range(14)  # more than the free slots: some wait
        ]
        await client.submit_many(batch)
    return long.id


async def photograph(demo: Demo, task_id: str) -> None:
    from playwright.async_api import async_playwright

    url = demo.run("photonctl", "dashboard", "--print-url", show=False).strip()
    workflows = json.loads(demo.run("photonctl", "workflow", "list", "-o", "json", show=False))
    base = url.split("/login", 1)[0]
    views = {
        "operations": "#/operations",
        "platforms": "#/platforms",
        "agents": "#/agents",
        "workflows": "#/workflows",
        "workflow": f"#/workflow/{workflows[0]['id']}?step=review" if workflows else "",
        "task": f"#/task/{task_id}",
        "cost": "#/cost",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(
            viewport={"width": 1440, "height": 900}, color_scheme="dark", device_scale_factor=1
        )
        await page.goto(url)
        await page.locator("#role").wait_for()
        await asyncio.sleep(15)  # a few utilisation samples
        for name, hash_ in views.items():
            if not hash_:
                continue
            await page.goto(f"{base}/{hash_}")
            await page.locator("main .card").first.wait_for()
            await asyncio.sleep(2.5)
            await page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
            print(f"wrote {OUT / name}.png", flush=True)
        # The same page in the light theme (it follows the system's).
        await page.emulate_media(color_scheme="light")
        await page.goto(f"{base}/#/operations")
        await page.locator("main .card").first.wait_for()
        await asyncio.sleep(2.5)
        await page.screenshot(path=str(OUT / "operations-light.png"), full_page=True)
        print(f"wrote {OUT / 'operations-light'}.png", flush=True)
        await browser.close()


def main() -> int:
    os.environ.setdefault("PHOTON_DEMO_SIMULATE", "1")
    root = Path(tempfile.mkdtemp(prefix="photon-screenshots-"))
    root.chmod(0o700)
    demo = Demo(root)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        demo.main()
        asyncio.run(photograph(demo, asyncio.run(add_load(demo))))
    finally:
        demo.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
