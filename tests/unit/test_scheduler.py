from collections.abc import Mapping
from dataclasses import replace

import pytest

from photon.hub.core import AgentView
from photon.hub.tasks import Placement, Waiting, place, refusal
from photon.model import TaskSpec


def agent(
    name: str,
    *,
    tools: tuple[str, ...] = ("echo",),
    disabled: tuple[str, ...] = (),
    labels: Mapping[str, str] | None = None,
    slots: int = 4,
    running: int = 0,
    accepting: bool = True,
    cpu: float = 0.0,
    memory: float = 0.0,
) -> AgentView:
    return AgentView(
        id=f"id-{name}",
        name=name,
        labels=labels or {},
        tools=frozenset(tools),
        disabled_tools=frozenset(disabled),
        slots=slots,
        running=running,
        accepting=accepting,
        cpu_percent=cpu,
        memory_percent=memory,
    )


ECHO = TaskSpec(tool="echo")


def placed_on(decision: Placement | Waiting) -> str:
    assert isinstance(decision, Placement), decision
    return decision.agent_id


def waiting_reason(decision: Placement | Waiting) -> str:
    assert isinstance(decision, Waiting), decision
    return decision.reason


def test_free_slots() -> None:
    assert agent("a", slots=4, running=1).free_slots == 3


def test_least_loaded_by_running_over_slots_wins() -> None:
    # b runs more tasks than a but is the less loaded one relative to its slots.
    fleet = [agent("a", slots=2, running=1), agent("b", slots=8, running=2)]
    assert placed_on(place(ECHO, fleet)) == "id-b"
    assert placed_on(place(ECHO, list(reversed(fleet)))) == "id-b"


def test_cpu_breaks_a_load_tie() -> None:
    fleet = [agent("busy", running=1, cpu=90.0), agent("idle", running=1, cpu=5.0)]
    assert placed_on(place(ECHO, fleet)) == "id-idle"
    assert placed_on(place(ECHO, list(reversed(fleet)))) == "id-idle"


def test_slot_load_outranks_cpu() -> None:
    fleet = [agent("loaded", slots=2, running=1, cpu=0.0), agent("hot", running=0, cpu=99.0)]
    assert placed_on(place(ECHO, fleet)) == "id-hot"


def test_memory_counts_less_than_cpu() -> None:
    fleet = [agent("cpu", cpu=30.0), agent("mem", memory=100.0)]
    assert placed_on(place(ECHO, fleet)) == "id-mem"


def test_equal_agents_follow_the_callers_order_so_rotation_spreads_work() -> None:
    fleet = [agent("a"), agent("b")]
    assert placed_on(place(ECHO, fleet)) == "id-a"
    assert placed_on(place(ECHO, fleet[1:] + fleet[:1])) == "id-b"


def test_non_accepting_agents_are_skipped() -> None:
    fleet = [agent("draining", accepting=False), agent("loaded", slots=4, running=3)]
    assert placed_on(place(ECHO, fleet)) == "id-loaded"


def test_agents_without_the_tool_are_skipped() -> None:
    fleet = [agent("idle", tools=("shell",)), agent("loaded", slots=4, running=3)]
    assert placed_on(place(ECHO, fleet)) == "id-loaded"


def test_selector_filters_agents() -> None:
    fleet = [agent("mac", labels={"os": "darwin"}), agent("linux", labels={"os": "linux"}, cpu=50)]
    assert placed_on(place(TaskSpec(tool="echo", selector="os=linux"), fleet)) == "id-linux"


def test_pin_by_id() -> None:
    fleet = [agent("a"), agent("b", running=3, cpu=80.0)]
    assert placed_on(place(TaskSpec(tool="echo", agent="id-b"), fleet)) == "id-b"


def test_a_pin_is_an_id_never_a_name() -> None:
    # Pins are resolved to ids at submit; an agent whose name is another's id gets nothing.
    impostor = agent("id-b")
    reason = waiting_reason(place(TaskSpec(tool="echo", agent="id-b"), [impostor]))
    assert reason == "agent id-b is not connected"


def test_a_task_pinned_to_a_draining_agent_says_so() -> None:
    draining = replace(agent("b"), accepting=False, draining=True)
    reason = waiting_reason(place(TaskSpec(tool="echo", agent="id-b"), [agent("a"), draining]))
    assert reason == "agent b is draining"


def test_no_agent_connected() -> None:
    assert waiting_reason(place(ECHO, [])) == "no agent is connected"
    fleet = [agent("a", accepting=False)]
    assert waiting_reason(place(ECHO, fleet)) == "no agent is connected"


def test_tool_missing_everywhere() -> None:
    fleet = [agent("a", tools=("shell",))]
    assert waiting_reason(place(ECHO, fleet)) == "no connected agent has the tool 'echo'"


def test_tool_disabled_names_agents_and_the_allow_tool_flag() -> None:
    fleet = [
        agent("zed", tools=(), disabled=("claude",)),
        agent("amy", tools=(), disabled=("claude",)),
        agent("bob", tools=("echo",)),
    ]
    reason = waiting_reason(place(TaskSpec(tool="claude"), fleet))
    assert (
        reason == "tool 'claude' is disabled on amy, zed (start an agent with --allow-tool claude)"
    )


def test_selector_matches_nothing() -> None:
    fleet = [agent("a", labels={"os": "linux"}), agent("b", tools=("shell",), labels={"gpu": "1"})]
    reason = waiting_reason(place(TaskSpec(tool="echo", selector="gpu"), fleet))
    assert reason == "selector 'gpu' matches no agent with the tool"


def test_all_slots_busy() -> None:
    fleet = [
        agent("a", slots=1, running=1),
        agent("b", slots=2, running=2),
        agent("other", tools=("shell",)),
    ]
    assert waiting_reason(place(ECHO, fleet)) == "all slots busy on the 2 eligible agent(s)"


@pytest.mark.parametrize(
    "fleet",
    [
        [],
        [agent("a")],
        [agent("a"), agent("b", accepting=False)],
    ],
)
def test_pinned_agent_not_connected(fleet: list[AgentView]) -> None:
    reason = waiting_reason(place(TaskSpec(tool="echo", agent="b"), fleet))
    assert reason == "agent b is not connected"


def test_pinned_agent_busy_waits_even_when_others_are_free() -> None:
    fleet = [agent("a"), agent("b", slots=1, running=1)]
    reason = waiting_reason(place(TaskSpec(tool="echo", agent="id-b"), fleet))
    assert reason == "all slots busy on the 1 eligible agent(s)"


def test_refusal_is_none_without_live_agents() -> None:
    assert refusal(ECHO, []) is None
    # A pin to an agent that is not in the fleet may still connect later.
    assert refusal(TaskSpec(tool="echo", agent="later"), [agent("a", tools=())]) is None


def test_refusal_when_the_tool_is_disabled_everywhere() -> None:
    fleet = [agent("b", tools=(), disabled=("claude",)), agent("a", tools=(), disabled=("claude",))]
    assert refusal(TaskSpec(tool="claude"), fleet) == (
        "tool 'claude' is not allowed on a, b; start an agent with --allow-tool claude"
    )


def test_refusal_when_the_tool_is_absent() -> None:
    fleet = [agent("a", tools=("shell",))]
    assert refusal(ECHO, fleet) == "no agent offers the tool 'echo'"


def test_no_refusal_when_some_agent_has_the_tool() -> None:
    fleet = [agent("a", tools=(), disabled=("echo",)), agent("b", tools=("echo",), running=4)]
    assert refusal(ECHO, fleet) is None


def test_refusal_only_looks_at_the_pinned_agent() -> None:
    fleet = [agent("a", tools=("echo",)), agent("b", tools=(), disabled=("echo",))]
    assert refusal(TaskSpec(tool="echo", agent="id-b"), fleet) == (
        "tool 'echo' is not allowed on b; start an agent with --allow-tool echo"
    )
    assert refusal(TaskSpec(tool="echo", agent="id-a"), fleet) is None
