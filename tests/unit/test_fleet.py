"""An agent session's view for placement is kept between changes and follows every change."""

from __future__ import annotations

from photon.hub.fleet import AgentSession, Fleet
from photon.model import AgentMetrics, ToolInfo


def session(agent_id: str = "a1") -> AgentSession:
    return AgentSession(
        agent_id=agent_id,
        name=agent_id,
        labels={"kind": "edge"},
        slots=2,
        hostname="h",
        version="0",
        platform="linux/x86_64",
        tools=[
            ToolInfo(name="echo", available=True, enabled=True),
            ToolInfo(name="shell", available=True, enabled=False),
        ],
        send_queue_limit=10,
    )


def test_view_is_kept_until_something_it_shows_changes() -> None:
    agent = session()
    view = agent.view()
    assert agent.view() is view
    assert view.tools == {"echo"} and view.disabled_tools == {"shell"}
    assert (view.running, view.free_slots, view.accepting) == (0, 2, True)

    agent.hold("t1")
    assert agent.view().running == 1
    agent.release("t1")
    assert agent.view().free_slots == 2

    agent.report(AgentMetrics(cpu_percent=50.0))
    assert agent.view().cpu_percent == 50.0
    agent.report(
        AgentMetrics(),
        [ToolInfo(name="shell", available=True, enabled=True)],
    )
    assert agent.view().tools == {"shell"} and agent.view().disabled_tools == frozenset()

    agent.set_draining(True)
    assert not agent.view().accepting
    agent.set_draining(False)
    assert agent.view().accepting
    agent.close("test")
    assert not agent.view().accepting


def test_a_replacing_stream_keeps_the_slots_taken() -> None:
    fleet = Fleet()
    first = session()
    fleet.attach(first)
    first.hold("t1")
    second = session()
    assert second.view().running == 0
    fleet.attach(second)
    assert not first.stream_open
    assert second.view().running == 1
    assert [v.running for v in fleet.views()] == [1]
