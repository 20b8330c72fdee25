"""Fuzzing every RPC of the admin and mesh services on a real hub: random and mutated messages
from an admin (the most a client may do) and from an enrolled agent.

Whatever arrives, the hub answers with a status that names the problem — never UNKNOWN (an
unhandled exception) — logs no traceback, and keeps serving.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor as pb
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photon.client import load_context
from photon.v1 import admin_pb2, auth_pb2, auth_pb2_grpc, mesh_pb2

from .harness import Mesh, make_env

EXAMPLES = 60  # per RPC: 24 admin RPCs and the mesh stream
RUNS: dict[str, int] = {}
# What a hub may answer to nonsense; UNKNOWN (an exception nobody handled) is not among them.
EXPECTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,  # a stream that keeps going past the test's deadline
    grpc.StatusCode.CANCELLED,
}
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "echo", "shell", "\x1b[31m", "a\x00b", "kind=local", "${{ x }}"]),
    st.text(alphabet="({[,=!\"'\\\n", max_size=200),
    st.integers(0, 200_000).map(lambda n: "x" * n),
)
JSON_TEXT = st.one_of(
    TEXT,
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=20,
    ).map(lambda value: __import__("json").dumps(value)),
    st.integers(1, 20_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 20_000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
)

_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    pb.FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=True, allow_infinity=True),
    pb.FieldDescriptor.TYPE_FLOAT: st.floats(width=32, allow_nan=True, allow_infinity=True),
    pb.FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    pb.FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    pb.FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    pb.FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    pb.FieldDescriptor.TYPE_BOOL: st.booleans(),
    pb.FieldDescriptor.TYPE_BYTES: st.binary(max_size=300),
}


def _field(field: pb.FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type == pb.FieldDescriptor.TYPE_MESSAGE:
        return _message(field.message_type, depth + 1)
    if field.type == pb.FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-5, 99))  # open enums
    if field.type == pb.FieldDescriptor.TYPE_STRING:
        return JSON_TEXT if field.name.endswith("_json") else TEXT
    return _SCALARS.get(field.type, st.integers(0, 2**31 - 1))


def _message(descriptor: pb.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of this type with any subset of fields set to any value of their type."""
    cls: Callable[..., Message] = _class(descriptor)
    if depth > 3:
        return st.just(cls())
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields
            fields[field.name] = st.dictionaries(
                _field(key, depth), _field(value, depth), max_size=4
            )
        elif field.is_repeated:
            fields[field.name] = st.lists(_field(field, depth), max_size=4)
        else:
            fields[field.name] = _field(field, depth)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True)) if fields else []
        message = cls()
        for name in chosen:
            value = draw(fields[name])
            target = getattr(message, name)
            if isinstance(value, Message):
                target.CopyFrom(value)
            elif isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(v, Message):
                        target[k].CopyFrom(v)
                    else:
                        target[k] = v
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, Message):
                        target.add().CopyFrom(item)
                    else:
                        target.append(item)
            else:
                setattr(message, name, value)
        return message

    return build()


def _class(descriptor: pb.Descriptor) -> Callable[..., Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def _mutated(message: Message) -> st.SearchStrategy[bytes]:
    """The message's bytes with some flipped, cut or appended: often still parseable."""
    data = message.SerializeToString()

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        out = bytearray(data)
        for _ in range(draw(st.integers(0, 4))):
            if out and draw(st.booleans()):
                out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
            else:
                out += draw(st.binary(min_size=1, max_size=8))
        return bytes(out[: draw(st.integers(0, len(out)))])

    return mutate()


# -- a hub for the whole module ----------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    root = tmp_path_factory.mktemp("fuzz")
    root.chmod(0o700)
    mesh = Mesh(root=root, env=make_env(root))
    mesh.init()

    async def start() -> None:
        await mesh.start_hub()
        await mesh.agent("worker", "--allow-tool", "shell")

    asyncio.run(start())
    try:
        yield mesh
    finally:
        mesh.stop_all()
        if RUNS:
            print(f"\nfuzz runs: {sum(RUNS.values())} ({len(RUNS)} RPCs)", file=sys.stderr)


@pytest.fixture(scope="module")
def admin(hub: Mesh) -> Iterator[tuple[grpc.Channel, tuple[tuple[str, str], ...]]]:
    context = load_context(hub.config_path)
    credentials = grpc.ssl_channel_credentials(root_certificates=context.ca_pem.encode())
    with grpc.secure_channel(context.api, credentials) as channel:
        login = auth_pb2_grpc.AuthServiceStub(channel).Login(
            auth_pb2.LoginRequest(api_key=context.api_key), timeout=10
        )
        yield channel, (("authorization", f"Bearer {login.token}"),)


def _check(code: grpc.StatusCode, details: str, rpc: str) -> None:
    assert code in EXPECTED, f"{rpc} answered {code.name}: {details}"
    assert len(details) < 8192, f"{rpc} answered {len(details)} characters of details"


ADMIN = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]
# Calls that would only slow the fuzzing down or change what the other examples see.
_SKIPPED = {"RemoveAgent", "DrainAgent"}


@pytest.mark.parametrize(
    "method", [m for m in ADMIN.methods if m.name not in _SKIPPED], ids=lambda m: m.name
)
def test_admin_rpcs_answer_nonsense_with_a_reason(
    hub: Mesh, admin: tuple[grpc.Channel, Any], method: pb.MethodDescriptor
) -> None:
    channel, metadata = admin
    path = f"/{ADMIN.full_name}/{method.name}"
    streaming = method.server_streaming

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.one_of(_message(method.input_type).map(lambda m: m.SerializeToString()),
                     _message(method.input_type).flatmap(_mutated)))  # fmt: skip
    def call(request: bytes) -> None:
        RUNS[method.name] = RUNS.get(method.name, 0) + 1
        try:
            if streaming:
                stream = channel.unary_stream(path)(request, metadata=metadata, timeout=2)
                for _, _ in zip(range(5), stream, strict=False):
                    pass
                stream.cancel()
            else:
                channel.unary_unary(path)(request, metadata=metadata, timeout=10)
        except grpc.RpcError as exc:
            _check(exc.code(), exc.details() or "", method.name)

    call()
    _serving(hub)


def test_the_mesh_stream_answers_nonsense_with_a_reason(hub: Mesh) -> None:
    data_dir = _fuzzer(hub)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(data_dir / "ca.crt").read_bytes(),
        private_key=(data_dir / "agent.key").read_bytes(),
        certificate_chain=(data_dir / "agent.crt").read_bytes(),
    )
    request = mesh_pb2.DESCRIPTOR.message_types_by_name["ConnectRequest"]

    @settings(
        max_examples=EXAMPLES * 3,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(_message(request), min_size=1, max_size=6), st.booleans())
    def stream(messages: list[Message], hello_first: bool) -> None:
        RUNS["Connect"] = RUNS.get("Connect", 0) + 1
        if hello_first:
            messages = [mesh_pb2.ConnectRequest(hello=mesh_pb2.Hello(slots=1)), *messages]
        with grpc.secure_channel(hub.serving["mesh"], credentials) as channel:
            call = channel.stream_stream("/photon.v1.MeshService/Connect")(
                iter(m.SerializeToString() for m in messages), timeout=2
            )
            try:
                for _, _ in zip(range(10), call, strict=False):
                    pass
            except grpc.RpcError as exc:
                _check(exc.code(), exc.details() or "", "Connect")

    stream()
    _serving(hub)


def _fuzzer(hub: Mesh) -> Path:
    path = hub.root / "agent-fuzzer"
    return path if path.exists() else hub.join("fuzzer")


def _serving(hub: Mesh) -> None:
    """The hub still serves, and logged no traceback."""
    context = load_context(hub.config_path)
    credentials = grpc.ssl_channel_credentials(root_certificates=context.ca_pem.encode())
    with grpc.secure_channel(context.api, credentials) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    assert hub.hub is not None and hub.hub.popen is not None and hub.hub.popen.poll() is None
    log = hub.hub.output()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:4000]
