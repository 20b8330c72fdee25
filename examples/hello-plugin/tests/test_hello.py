"""The hello plugin's own tests: offline, with PHOTON's plugin testing harness."""

from __future__ import annotations

from pathlib import Path

import pytest
from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins.testing import FakeTaskContext, check_conformance

from photon_hello import HelloPlugin


async def test_conforms_to_the_plugin_contract() -> None:
    await check_conformance(HelloPlugin(), sample_inputs={"greet": {"name": "Ada"}})


async def test_greets(tmp_path: Path) -> None:
    ctx = FakeTaskContext(action="greet", inputs={"name": "Ada"}, workdir=tmp_path)
    assert await HelloPlugin().run(ctx) == {"greeting": "Hello, Ada!"}
    assert ctx.events == [("log", "greeting Ada", {})]


async def test_the_greeting_comes_from_the_agent_settings() -> None:
    ctx = FakeTaskContext(inputs={"name": "Grace"}, settings={"greeting": "Howdy"})
    assert await HelloPlugin().run(ctx) == {"greeting": "Howdy, Grace!"}


@pytest.mark.parametrize("inputs", [{}, {"name": ""}, {"name": 7}])
async def test_a_bad_name_is_invalid_input(inputs: dict[str, object]) -> None:
    with pytest.raises(TaskFailed) as info:
        await HelloPlugin().run(FakeTaskContext(inputs=inputs))
    assert info.value.failure_class is FailureClass.INVALID_INPUT


async def test_a_cancelled_task_does_not_greet() -> None:
    ctx = FakeTaskContext(inputs={"name": "Ada"})
    ctx.cancel()
    with pytest.raises(TaskFailed) as info:
        await HelloPlugin().run(ctx)
    assert info.value.failure_class is FailureClass.CANCELLED
