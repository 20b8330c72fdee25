"""The dashboard in a real headless Chromium against a real hub and agents: log in through a
one-time link, watch agents and a running task live, cancel it; a viewer may not."""

from __future__ import annotations

import re
import time
from typing import Any

from photon.model import RetryPolicy, TaskState

from .dashboard_harness import chromium, login_url
from .harness import Mesh, wait_for
from .test_ai_quota import fake_env

TICKS = ["sh", "-c", "i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); sleep 0.2; done"]
DIAMOND = {
    "name": "diamond",
    "steps": [
        {"id": "start", "tool": "echo"},
        {"id": "left", "tool": "echo", "needs": ["start"], "inputs": {"sleep": 1}},
        {"id": "right", "tool": "echo", "needs": ["start"]},
        {"id": "join", "tool": "echo", "needs": ["left", "right"], "inputs": {"log": "joined"}},
    ],
}
CANCEL_FROM_PAGE = """async (id) => {
  const me = await (await fetch('/api/me')).json();
  const headers = {'X-CSRF-Token': me.csrf};
  const r = await fetch(`/api/tasks/${id}/cancel`, {method: 'POST', headers});
  return [r.status, await r.json()];
}"""


STAMP = "(t) => new Date(t * 1000).toLocaleString()"  # how the page writes a time


async def _log_line(page: Any, text: str) -> None:
    """Wait until the task page's event log shows this line."""
    line = page.locator("#event-log .m", has_text=re.compile(f"^{re.escape(text)}$"))
    await line.wait_for(timeout=20_000)


async def test_an_admin_watches_a_task_live_and_cancels_it_from_the_page(mesh: Mesh) -> None:
    await mesh.agent("builder-1", "--allow-tool", "shell", labels="kind=build")
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(login_url(mesh))
        assert page.url.endswith("/"), page.url  # the code is gone from the address bar
        await page.locator("#role", has_text="admin").wait_for()
        # The agent is in the fleet; a second one appears without a reload.
        await page.locator("td", has_text="builder-1").wait_for()
        await mesh.agent("builder-2", labels="kind=build")
        await page.locator("td", has_text="builder-2").wait_for(timeout=20_000)

        async with mesh.client() as client:
            task = await client.submit("shell", "run", inputs={"argv": TICKS}, agent="builder-1")
        link = page.locator(f"a[href='#/task/{task.id}']")
        running = page.locator("tr", has=link).locator(".state-running")
        await running.wait_for(timeout=20_000)
        await link.first.click()
        # The event stream grows while we look.
        await page.locator("#event-log .m", has_text=re.compile("^tick 2$")).wait_for(
            timeout=20_000
        )
        await page.locator("#event-log .m", has_text=re.compile("^tick 8$")).wait_for(
            timeout=20_000
        )
        await page.click("button[data-action=cancel]")
        await page.locator("h1 .state-cancelled").wait_for(timeout=30_000)
        assert await page.locator("button[data-action=cancel]").count() == 0

        # Every view renders from its live data: the task's tool has its panel, the agent its
        # card, the spend its table.
        for view, shows in (
            ("platforms", "shell"),
            ("agents", "builder-1"),
            ("cost", "By tool"),
            ("workflows", "No workflows yet"),
        ):
            await page.click(f"a[data-view={view}]")
            await page.locator("main .card", has_text=shows).first.wait_for(timeout=20_000)

        # Drain an agent from the fleet table.
        await page.click("a[data-view=operations]")
        row = page.locator("tr", has=page.locator("td", has_text="builder-2"))
        await row.locator("button", has_text="Drain").click()
        await row.locator(".state-draining").wait_for(timeout=20_000)
        await row.locator("button", has_text="Undrain").wait_for()
        assert errors == []  # no script failed on any view

    await mesh.wait_agent_state("builder-2", "draining")
    async with mesh.client() as client:
        assert (await client.get_task(task.id)).state is TaskState.CANCELLED

        async def recorded() -> list[Any]:
            return await client.list_audit(action="dashboard.cancel_task")

        records = await wait_for(recorded)
    assert [(r.actor, r.target, r.outcome) for r in records] == [("admin", task.id, "allowed")]


async def test_a_viewer_sees_the_task_but_has_no_cancel_and_is_refused(mesh: Mesh) -> None:
    await mesh.agent("builder-1", "--allow-tool", "shell")
    created = mesh.ctl("user", "create", "watcher", "--role", "viewer")
    assert created.returncode == 0, created.stderr
    url = login_url(mesh, api_key=created.stdout.strip())
    async with mesh.client() as client:
        task = await client.submit("shell", "run", inputs={"argv": TICKS})
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(url)
        await page.locator("#role", has_text="viewer").wait_for()
        await page.goto(f"http://{mesh.serving['http']}/#/task/{task.id}")
        await page.locator("h1 .state-running").wait_for(timeout=20_000)
        await page.locator("#event-log .m", has_text=re.compile("^tick 1$")).wait_for(
            timeout=20_000
        )
        assert await page.locator("button[data-action=cancel]").count() == 0
        assert await page.locator("button", has_text="Drain").count() == 0
        status, body = await page.evaluate(CANCEL_FROM_PAGE, task.id)

        # A workflow's graph fills in live; a step leads to its task.
        async with mesh.client() as client:
            workflow = await client.submit_workflow(DIAMOND)
        await page.click("a[data-view=workflows]")
        await page.locator("a", has_text="diamond").click()
        assert page.url.endswith(f"#/workflow/{workflow.id}")
        for step in ("start", "left", "right", "join"):
            await page.locator(f".dag .node-succeeded[data-step={step}]").wait_for(timeout=30_000)
        assert await page.locator(".dag .edge").count() == 4
        await page.locator(".dag [data-step=join]").click()
        await page.locator(".card h2", has_text="Step join").wait_for()
        await page.locator(".card", has_text="Step join").locator("a[href^='#/task/']").click()
        await page.locator("h1 .state-succeeded").wait_for()
        assert (await page.locator("#event-log .m", has_text="joined").count()) == 1
        assert errors == []
    assert status == 403
    assert body["error"] == "role viewer may not cancel task (needs operator)"
    async with mesh.client() as client:
        assert (await client.get_task(task.id)).state is TaskState.RUNNING
        denied = await wait_for(lambda: client.list_audit(action="dashboard.cancel_task"))
        assert [(r.actor, r.outcome) for r in denied] == [("watcher", "denied")]
        await client.cancel_task(task.id)


async def test_a_tool_out_of_quota_shows_on_its_panel_and_its_agent_until_the_reset(
    mesh: Mesh,
) -> None:
    reset = int(time.time()) + 3600
    await mesh.agent("spent", env=fake_env("rate_limit", reset))
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(login_url(mesh))
        await page.locator("#role", has_text="admin").wait_for()
        await page.click("a[data-view=platforms]")
        panel = page.locator(
            "main .card", has=page.locator("h2", has_text=re.compile("^claude-code$"))
        )
        await panel.wait_for(timeout=20_000)
        assert await panel.locator(".quota-blocks").count() == 0  # nothing blocked yet

        # The fake claude answers with a usage limit and its reset: the block appears live.
        async with mesh.client() as client:
            task = await client.submit(
                "claude-code",
                inputs={"prompt": "hello"},
                retry=RetryPolicy(max_attempts=3, initial_backoff=300.0),
            )
        blocked = panel.locator(".quota-blocks tr", has=page.locator("td", has_text="spent"))
        await blocked.wait_for(timeout=30_000)
        until = await page.evaluate(STAMP, reset)
        assert await blocked.locator("td").nth(1).inner_text() == until

        await page.click("a[data-view=agents]")
        card = page.locator("main .card", has=page.locator("h2", has_text="spent"))
        row = card.locator(".quota-blocks tr", has=page.locator("td", has_text="claude-code"))
        await row.wait_for(timeout=20_000)
        assert await row.locator("td").nth(1).inner_text() == until
        assert errors == []
    async with mesh.client() as client:
        waiting = await client.get_task(task.id)
        assert "out of quota" in waiting.waiting_reason, waiting
        await client.cancel_task(task.id)
