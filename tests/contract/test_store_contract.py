"""The store contract: what every `Store` implementation does, written once and run against
each one (`store_kind`: SQLite for now)."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from photon._ids import new_ulid
from photon.errors import ConflictError, NotFoundError
from photon.hub.core import (
    AgentRecord,
    ApiKeyRecord,
    JoinTokenRecord,
    SecretRecord,
    TaskEventRecord,
    TaskRecord,
    UserRecord,
)
from photon.hub.store import SqliteStore, Store
from photon.model import Failure, FailureClass, RetryPolicy, Role, TaskSpec, TaskState

NOW = 1_900_000_000.0
Opener = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def opener(store_kind: str, tmp_path: Path) -> Opener:
    """Opens a store on the same database each time it is called."""

    async def open_store() -> Store:
        assert store_kind == "sqlite"
        store = SqliteStore(tmp_path / "hub.db")
        await store.open()
        return store

    return open_store


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[Store]:
    store = await opener()
    try:
        yield store
    finally:
        await store.close()


def join_token(token_id: str = "tok1", *, uses: int = 1) -> JoinTokenRecord:
    return JoinTokenRecord(
        id=token_id,
        secret_hash="h" * 64,
        labels={"pool": "build", "zone": "eu-1"},
        uses_left=uses,
        expires_at=NOW + 3600,
        created_at=NOW,
    )


def agent_record(agent_id: str, name: str = "") -> AgentRecord:
    return AgentRecord(
        id=agent_id,
        name=name or f"name-{agent_id}",
        hostname=f"{agent_id}.local",
        labels={"os": "linux"},
        certificate_serial="1f2e",
        certificate_expires_at=NOW + 86400,
        joined_at=NOW,
    )


def task(task_id: str = "", *, key: str = "", state: TaskState = TaskState.QUEUED) -> TaskRecord:
    return TaskRecord(
        id=task_id or new_ulid().lower(),
        spec=TaskSpec(
            tool="echo",
            action="say",
            inputs={"text": "hi", "n": 3, "nested": {"list": [1, 2]}},
            selector="os=linux",
            priority=7,
            timeout=12.5,
            retry=RetryPolicy(max_attempts=5, initial_backoff=0.5),
            idempotency_key=key,
            locks=("repo",),
            env={"A": "1"},
            labels={"team": "x"},
        ),
        state=state,
        created_at=NOW,
    )


def event(task_id: str, seq: int, message: str = "") -> TaskEventRecord:
    return TaskEventRecord(
        task_id=task_id,
        seq=seq,
        attempt=1,
        kind="log",
        message=message or f"line {seq}",
        data={"stream": "stdout"},
        time=NOW + seq,
    )


# -- join tokens and enrolment -----------------------------------------------------------------


async def test_join_tokens_add_get_list_revoke(store: Store) -> None:
    await store.add_join_token(join_token("tok2", uses=3))
    await store.add_join_token(join_token("tok1"))
    assert await store.get_join_token("tok2") == join_token("tok2", uses=3)
    assert [t.id for t in await store.list_join_tokens()] == ["tok1", "tok2"]

    await store.revoke_join_token("tok2")
    assert (await store.get_join_token("tok2")).revoked
    assert not (await store.get_join_token("tok1")).revoked


async def test_unknown_join_token(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.get_join_token("nope")
    with pytest.raises(NotFoundError, match="nope"):
        await store.revoke_join_token("nope")


async def test_consume_spends_a_use_and_adds_the_agent(store: Store) -> None:
    await store.add_join_token(join_token(uses=2))
    await store.consume_join_token("tok1", agent_record("a1"))
    assert (await store.get_join_token("tok1")).uses_left == 1
    assert await store.get_agent("a1") == agent_record("a1")


async def test_second_consume_of_a_one_use_token_is_refused(store: Store) -> None:
    await store.add_join_token(join_token(uses=1))
    await store.consume_join_token("tok1", agent_record("a1"))
    with pytest.raises(ConflictError):
        await store.consume_join_token("tok1", agent_record("a2"))
    assert [a.id for a in await store.list_agents()] == ["a1"]
    with pytest.raises(NotFoundError):
        await store.get_agent("a2")
    assert (await store.get_join_token("tok1")).uses_left == 0


async def test_concurrent_consumes_admit_exactly_the_token_uses(store: Store) -> None:
    await store.add_join_token(join_token(uses=2))
    results = await asyncio.gather(
        *(store.consume_join_token("tok1", agent_record(f"a{i}")) for i in range(5)),
        return_exceptions=True,
    )
    admitted = [f"a{i}" for i, r in enumerate(results) if r is None]
    assert len(admitted) == 2
    assert all(isinstance(r, ConflictError) for r in results if r is not None)
    assert sorted(a.id for a in await store.list_agents()) == admitted


async def test_revoked_token_cannot_be_consumed(store: Store) -> None:
    await store.add_join_token(join_token(uses=5))
    await store.revoke_join_token("tok1")
    with pytest.raises(ConflictError):
        await store.consume_join_token("tok1", agent_record("a1"))
    assert await store.list_agents() == []
    assert (await store.get_join_token("tok1")).uses_left == 5


async def test_consume_of_unknown_token_adds_no_agent(store: Store) -> None:
    with pytest.raises(ConflictError):
        await store.consume_join_token("nope", agent_record("a1"))
    assert await store.list_agents() == []


# -- agents ------------------------------------------------------------------------------------


async def test_agents_get_list_update(store: Store) -> None:
    await store.add_join_token(join_token(uses=3))
    for agent_id, name in [("a1", "zeta"), ("a2", "alpha"), ("a3", "mid")]:
        await store.consume_join_token("tok1", agent_record(agent_id, name))
    assert [a.name for a in await store.list_agents()] == ["alpha", "mid", "zeta"]

    changed = replace(
        agent_record("a1", "zeta"),
        labels={"os": "darwin", "gpu": "m2"},
        draining=True,
        certificate_serial="beef",
    )
    await store.update_agent(changed)
    assert await store.get_agent("a1") == changed
    assert await store.get_agent("a2") == agent_record("a2", "alpha")


async def test_unknown_agent(store: Store) -> None:
    with pytest.raises(NotFoundError, match="agent ghost not found"):
        await store.get_agent("ghost")
    with pytest.raises(NotFoundError, match="agent ghost not found"):
        await store.update_agent(agent_record("ghost"))
    assert await store.list_agents() == []


async def test_a_renewed_certificate_changes_only_the_serial_and_expiry(store: Store) -> None:
    await store.add_join_token(join_token(uses=3))
    await store.consume_join_token("tok1", agent_record("a1"))
    await store.consume_join_token("tok1", agent_record("a2"))
    draining = replace(agent_record("a1"), draining=True)
    await store.update_agent(draining)
    await store.renew_agent_certificate("a1", serial="c0ffee", expires_at=NOW + 2 * 86400)
    assert await store.get_agent("a1") == replace(
        draining, certificate_serial="c0ffee", certificate_expires_at=NOW + 2 * 86400
    )
    assert await store.get_agent("a2") == agent_record("a2")

    # A removed agent stays removed, with the certificate it had; an unknown one is not found.
    removed = replace(agent_record("a2"), removed=True)
    await store.update_agent(removed)
    with pytest.raises(NotFoundError):
        await store.renew_agent_certificate("a2", serial="dead", expires_at=NOW)
    assert await store.get_agent("a2") == removed
    with pytest.raises(NotFoundError):
        await store.renew_agent_certificate("ghost", serial="dead", expires_at=NOW)


# -- users and api keys ------------------------------------------------------------------------


def user(name: str, role: Role = Role.ADMIN) -> UserRecord:
    return UserRecord(name=name, role=role, created_at=NOW, created_by="root")


def key_of(name: str, key_id: str, role: Role = Role.ADMIN) -> ApiKeyRecord:
    return ApiKeyRecord(id=key_id, user=name, role=role, secret_hash="f" * 64, created_at=NOW)


async def test_users_and_their_keys(store: Store) -> None:
    assert await store.count_api_keys() == 0
    await store.add_user(user("root"), key_of("root", "k1"))
    await store.add_user(user("ci", Role.OPERATOR), key_of("ci", "k2", Role.OPERATOR))
    assert await store.get_api_key("k1") == key_of("root", "k1")
    assert (await store.get_api_key("k2")).role is Role.OPERATOR
    assert await store.count_api_keys() == 2
    assert await store.list_users() == [user("ci", Role.OPERATOR), user("root")]
    with pytest.raises(NotFoundError):
        await store.get_api_key("k3")
    # A name is taken once; the refused add leaves no key behind.
    with pytest.raises(ConflictError, match="already exists"):
        await store.add_user(user("ci"), key_of("ci", "k3"))
    with pytest.raises(NotFoundError):
        await store.get_api_key("k3")
    # Deleting a user takes its keys with it.
    await store.delete_user("ci")
    assert await store.list_users() == [user("root")]
    with pytest.raises(NotFoundError):
        await store.get_api_key("k2")
    with pytest.raises(NotFoundError, match="no user named 'ci'"):
        await store.delete_user("ci")


# -- secrets -----------------------------------------------------------------------------------


def secret(name: str, version: int, *, by: str = "alice") -> SecretRecord:
    return SecretRecord(
        name=name,
        version=version,
        nonce=bytes([version]) * 12,
        ciphertext=f"sealed {name} v{version}".encode(),
        set_by=by,
        set_at=NOW + version,
    )


async def test_secrets_keep_every_version_and_list_the_latest(store: Store) -> None:
    assert await store.list_secrets() == []
    with pytest.raises(NotFoundError, match="no secret named 'tok'"):
        await store.get_secret("tok")
    await store.add_secret(secret("tok", 1))
    await store.add_secret(secret("tok", 2, by="bob"))
    await store.add_secret(secret("api", 1))
    assert await store.get_secret("tok") == secret("tok", 2, by="bob")
    assert await store.list_secrets() == [secret("api", 1), secret("tok", 2, by="bob")]
    assert await store.list_secret_versions("tok") == [
        secret("tok", 1),
        secret("tok", 2, by="bob"),
    ]
    assert await store.list_secret_versions("nope") == []
    with pytest.raises(ConflictError, match="secret 'tok' already has version 2"):
        await store.add_secret(secret("tok", 2))


async def test_deleting_a_secret_removes_every_version(opener: Opener) -> None:
    store = await opener()
    try:
        await store.add_secret(secret("tok", 1))
        await store.add_secret(secret("tok", 2))
        await store.add_secret(secret("api", 1))
        assert await store.delete_secret("tok") == 2
        with pytest.raises(NotFoundError):
            await store.delete_secret("tok")
        assert await store.list_secret_versions("tok") == []
    finally:
        await store.close()
    store = await opener()
    try:
        assert await store.list_secrets() == [secret("api", 1)]
    finally:
        await store.close()


# -- tasks -------------------------------------------------------------------------------------


async def insert(store: Store, record: TaskRecord) -> tuple[TaskRecord, bool]:
    [result] = await store.insert_tasks([record])
    return result


async def test_task_insert_get_update(store: Store) -> None:
    record = task()
    stored, created = await insert(store, record)
    assert created and stored == record
    assert await store.get_task(record.id) == record

    finished = replace(
        record,
        state=TaskState.FAILED,
        attempt=2,
        epoch=3,
        agent_id="a1",
        outputs={"exit_code": 1, "files": ["a.txt"]},
        failure=Failure(failure_class=FailureClass.QUOTA, message="rate limited", retry_at=NOW),
        started_at=NOW + 1,
        finished_at=NOW + 2,
    )
    await store.update_task(finished, expected_epoch=stored.epoch)
    assert await store.get_task(record.id) == finished


async def test_unknown_task(store: Store) -> None:
    with pytest.raises(NotFoundError, match="task nope not found"):
        await store.get_task("nope")
    with pytest.raises(NotFoundError, match="task nope not found"):
        await store.update_task(task("nope"), expected_epoch=0)


async def test_idempotency_key_returns_the_first_task(store: Store) -> None:
    first = task(key="deploy-42")
    second = task(key="deploy-42")
    assert first.id != second.id
    assert await insert(store, first) == (first, True)
    assert await insert(store, second) == (first, False)
    with pytest.raises(NotFoundError):
        await store.get_task(second.id)
    # Tasks without a key never collide with each other.
    assert (await insert(store, task()))[1]
    assert (await insert(store, task()))[1]


async def test_one_batch_inserts_all_and_honours_keys_within_it(store: Store) -> None:
    await insert(store, task("old", key="k1"))
    batch = [task("a"), task("b", key="k1"), task("c", key="k2"), task("d", key="k2")]
    results = await store.insert_tasks(batch)
    assert [(stored.id, created) for stored, created in results] == [
        ("a", True),
        ("old", False),
        ("c", True),
        ("c", False),
    ]
    assert {t.id for t in await store.list_tasks()} == {"old", "a", "c"}


async def test_concurrent_submits_with_one_key_create_one_task(store: Store) -> None:
    results = await asyncio.gather(*(insert(store, task(key="once")) for _ in range(20)))
    assert [created for _, created in results].count(True) == 1
    assert len({stored.id for stored, _ in results}) == 1
    assert len(await store.list_tasks()) == 1


async def test_list_tasks_by_state_newest_first(store: Store) -> None:
    ids = [f"t{i:02d}" for i in range(6)]
    for i, task_id in enumerate(ids):
        await insert(store, task(task_id, state=TaskState.RUNNING if i % 2 else TaskState.QUEUED))
    assert [t.id for t in await store.list_tasks()] == list(reversed(ids))
    assert [t.id for t in await store.list_tasks(limit=2)] == ["t05", "t04"]
    assert [t.id for t in await store.list_tasks(state=TaskState.RUNNING)] == ["t05", "t03", "t01"]
    assert [t.id for t in await store.list_tasks(state=TaskState.QUEUED, limit=1)] == ["t04"]
    assert await store.list_tasks(state=TaskState.SUCCEEDED) == []


async def test_list_unfinished_tasks(store: Store) -> None:
    for state in TaskState:
        await insert(store, task(f"t-{state.value}", state=state))
    unfinished = {t.state for t in await store.list_unfinished_tasks()}
    assert unfinished == {
        TaskState.WAITING,
        TaskState.QUEUED,
        TaskState.ASSIGNED,
        TaskState.RUNNING,
        TaskState.RETRY_WAIT,
    }


async def test_list_finished_tasks_since_a_time_in_the_order_they_ended(store: Store) -> None:
    ends = {"a": NOW + 30, "b": NOW + 10, "c": NOW + 20, "d": NOW - 5}
    for task_id, end in ends.items():
        queued = task(task_id)
        await insert(store, queued)
        ended = replace(
            queued,
            state=TaskState.SUCCEEDED,
            epoch=1,
            outputs={"cost_usd": 0.25, "usage": {"input_tokens": 7}},
            finished_at=end,
        )
        await store.update_task(ended, expected_epoch=0)
    await insert(store, task("unfinished", state=TaskState.RUNNING))
    finished = await store.list_finished_tasks(since=NOW, limit=100)
    assert [t.id for t in finished] == ["b", "c", "a"]
    assert finished[0].outputs == {"cost_usd": 0.25, "usage": {"input_tokens": 7}}
    assert [t.id for t in await store.list_finished_tasks(since=NOW, limit=2)] == ["b", "c"]
    assert [t.id for t in await store.list_finished_tasks(since=0.0, limit=1)] == ["d"]
    assert await store.list_finished_tasks(since=NOW + 31, limit=100) == []


async def test_attempt_costs_of_the_tasks_that_ended_since(store: Store) -> None:
    for task_id, end in (("old", NOW - 5), ("new", NOW + 5)):
        queued = task(task_id)
        await insert(store, queued)
        done = replace(queued, state=TaskState.FAILED, epoch=1, attempt=2, finished_at=end)
        await store.update_task(done, expected_epoch=0)
    await insert(store, task("running", state=TaskState.RUNNING))

    def cost(task_id: str, seq: int, attempt: int, usd: Any) -> TaskEventRecord:
        return replace(event(task_id, seq), attempt=attempt, kind="cost", data={"usd": usd})

    await store.append_task_events(
        [
            cost("new", 1, 1, 0.25),
            cost("new", 2, 1, 0.5),
            cost("new", 3, 2, 0.125),
            cost("new", 4, 2, "1.0"),  # not a number: nothing
            cost("new", 5, 2, -3),  # nor is a negative amount
            replace(event("new", 6), attempt=2, data={"usd": 9.0}),  # not a cost event
            cost("old", 1, 1, 1.0),
            cost("running", 1, 1, 1.0),
        ]
    )
    assert await store.attempt_costs(since=NOW) == {"new": {1: 0.75, 2: 0.125}}
    assert (await store.attempt_costs(since=0.0))["old"] == {1: 1.0}


async def test_task_events_append_and_list_after_seq(store: Store) -> None:
    await store.append_task_events([event("t1", 1), event("t1", 2), event("t2", 1)])
    # A redelivered event (same task and seq) is ignored, not duplicated or overwritten.
    await store.append_task_events([event("t1", 2, "redelivered"), event("t1", 3)])
    await store.append_task_events([])

    events = await store.list_task_events("t1")
    assert events == [event("t1", 1), event("t1", 2), event("t1", 3)]
    assert [e.seq for e in await store.list_task_events("t1", after_seq=1)] == [2, 3]
    assert await store.list_task_events("t1", after_seq=3) == []
    assert await store.list_task_events("t2") == [event("t2", 1)]
    assert await store.list_task_events("none") == []


# -- group commit ------------------------------------------------------------------------------


async def test_many_concurrent_inserts_all_commit(store: Store) -> None:
    records = [task(f"t{i:03d}") for i in range(200)]
    results = await asyncio.gather(*(insert(store, r) for r in records))
    assert results == [(r, True) for r in records]
    assert len(await store.list_tasks(limit=1000)) == 200
    for record in records[::20]:
        assert await store.get_task(record.id) == record


async def test_one_failing_write_does_not_fail_its_batch(store: Store) -> None:
    await store.add_join_token(join_token(uses=1))
    results = await asyncio.gather(
        insert(store, task("before")),
        store.update_task(task("unknown"), expected_epoch=0),
        store.consume_join_token("tok1", agent_record("a1")),
        store.consume_join_token("tok1", agent_record("a2")),
        insert(store, task("after")),
        store.append_task_events([event("before", 1)]),
        return_exceptions=True,
    )
    assert results[0] == (task("before"), True)
    assert isinstance(results[1], NotFoundError)
    assert results[2] is None
    assert isinstance(results[3], ConflictError)
    assert results[4] == (task("after"), True)
    assert results[5] is None

    assert {t.id for t in await store.list_tasks()} == {"before", "after"}
    assert [a.id for a in await store.list_agents()] == ["a1"]
    assert await store.list_task_events("before") == [event("before", 1)]


async def test_a_cancelled_caller_does_not_lose_the_others_writes(store: Store) -> None:
    writes = [asyncio.ensure_future(insert(store, task(f"t{i}"))) for i in range(10)]
    await asyncio.sleep(0)  # let every write join the pending batch
    writes[0].cancel()
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(r == (task(f"t{i}"), True) for i, r in enumerate(results) if i)
    assert {t.id for t in await store.list_tasks()} >= {f"t{i}" for i in range(1, 10)}


# -- durability --------------------------------------------------------------------------------


async def test_data_survives_close_and_reopen(opener: Opener) -> None:
    store = await opener()
    await store.add_join_token(join_token(uses=2))
    await store.consume_join_token("tok1", agent_record("a1"))
    await store.add_user(user("root"), key_of("root", "k1"))
    record = task("t1", key="k")
    await insert(store, record)
    await store.append_task_events([event("t1", 1)])
    await store.close()

    reopened = await opener()
    try:
        assert (await reopened.get_join_token("tok1")).uses_left == 1
        assert await reopened.get_agent("a1") == agent_record("a1")
        assert (await reopened.get_api_key("k1")).user == "root"
        assert await reopened.list_users() == [user("root")]
        assert await reopened.get_task("t1") == record
        assert await insert(reopened, task("t2", key="k")) == (record, False)
        assert await reopened.list_task_events("t1") == [event("t1", 1)]
    finally:
        await reopened.close()


async def test_reads_see_each_commit_while_other_reads_run(store: Store) -> None:
    # Many watchers read at once on the hub; none may keep an old snapshot alive for the others.
    record = task()
    await insert(store, record)
    stop = asyncio.Event()

    async def keep_reading() -> None:
        while not stop.is_set():
            await store.get_task(record.id)

    readers = [asyncio.create_task(keep_reading()) for _ in range(20)]
    try:
        for state in (TaskState.ASSIGNED, TaskState.RUNNING, TaskState.SUCCEEDED) * 10:
            await store.update_task(replace(record, state=state), expected_epoch=record.epoch)
            assert (await store.get_task(record.id)).state is state
    finally:
        stop.set()
        await asyncio.gather(*readers)


# -- several writers ---------------------------------------------------------------------------


async def test_a_task_update_is_conditional_on_the_epoch(store: Store) -> None:
    record = task("t1")
    await insert(store, record)
    moved = replace(record, state=TaskState.ASSIGNED, attempt=1, epoch=1, agent_id="a1")
    await store.update_task(moved, expected_epoch=0)
    # A writer that still believes the task is at epoch 0 lost it: its write is refused whole.
    stale = replace(record, state=TaskState.SUCCEEDED, outputs={"stale": True})
    with pytest.raises(ConflictError, match="epoch 1, not 0"):
        await store.update_task(stale, expected_epoch=0, events=[event("t1", 1)])
    assert await store.get_task("t1") == moved
    assert await store.list_task_events("t1") == []


async def test_claiming_moves_queued_tasks_to_a_new_epoch(store: Store) -> None:
    await store.insert_tasks(
        [
            replace(task("queued"), epoch=0),
            replace(task("retrying", state=TaskState.RETRY_WAIT), epoch=2),
            replace(task("running", state=TaskState.RUNNING), epoch=1, agent_id="a1"),
            replace(task("done", state=TaskState.SUCCEEDED), epoch=3),
        ]
    )
    for round_ in (1, 2):  # every claim moves them on again
        claimed = {t.id: t.epoch for t in await store.claim_unfinished_tasks()}
        assert claimed == {"queued": round_, "retrying": 2 + round_, "running": 1}
    assert (await store.get_task("queued")).epoch == 2
    assert (await store.get_task("done")).epoch == 3


async def test_agent_names_are_unique_and_never_another_agents_id(store: Store) -> None:
    await store.add_join_token(join_token(uses=5))
    await store.consume_join_token("tok1", agent_record("a1", name="build"))
    with pytest.raises(ConflictError, match="an agent named 'build' is already a member"):
        await store.consume_join_token("tok1", agent_record("a2", name="build"))
    with pytest.raises(ConflictError, match="an agent named 'a1' is already a member"):
        await store.consume_join_token("tok1", agent_record("a3", name="a1"))
    assert [a.id for a in await store.list_agents()] == ["a1"]
    assert (await store.get_join_token("tok1")).uses_left == 4  # refused joins spend nothing
    # A removed agent's name is free again.
    await store.update_agent(replace(agent_record("a1", name="build"), removed=True))
    await store.consume_join_token("tok1", agent_record("a4", name="build"))
