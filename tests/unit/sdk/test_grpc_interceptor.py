"""HessraServerInterceptor on a real grpc.aio server on 127.0.0.1 (raw-bytes methods)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio
import pytest

from hessra import KeyPair
from hessra.middleware.grpc import HessraServerInterceptor, current_auth
from hessra_core.pki import SubjectNames, create_ca, issue_cert

from .conftest import SUBJECT, ChainWorld

SERVICE = "test.Shop"


def _who() -> bytes:
    ctx = current_auth()
    return json.dumps([ctx.subject, ctx.resource, ctx.operation, ctx.component]).encode()


async def get(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return _who()


async def watch(
    request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
) -> AsyncIterator[bytes]:
    for _ in range(2):
        yield _who()


async def upload(
    requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[bytes, bytes]
) -> bytes:
    count = 0
    async for _ in requests:
        count += 1
    return _who() + str(count).encode()


def ping(request: bytes, context: Any) -> bytes:  # a sync behaviour
    return _who()


def _handler() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Get": grpc.unary_unary_rpc_method_handler(get),
            "Watch": grpc.unary_stream_rpc_method_handler(watch),
            "Upload": grpc.stream_unary_rpc_method_handler(upload),
            "Ping": grpc.unary_unary_rpc_method_handler(ping),
            "Health": grpc.unary_unary_rpc_method_handler(lambda r, c: b"ok"),
        },
    )


@asynccontextmanager
async def serving(
    interceptor: HessraServerInterceptor, *, mtls: bool = False
) -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server(interceptors=[interceptor])
    server.add_generic_rpc_handlers((_handler(),))
    if mtls:
        ca = create_ca()
        names = SubjectNames(ips=["127.0.0.1"])
        leaf = issue_cert(ca, "shop", names, server=True, client=False)
        client = issue_cert(ca, "caller", SubjectNames(uris=["urn:service:caller"]))
        server_creds = grpc.ssl_server_credentials(
            [(leaf.key_pem, leaf.cert_pem)], root_certificates=ca.cert_pem, require_client_auth=True
        )
        port = server.add_secure_port("127.0.0.1:0", server_creds)
        channel_creds = grpc.ssl_channel_credentials(ca.cert_pem, client.key_pem, client.cert_pem)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        if mtls:
            channel = grpc.aio.secure_channel(f"127.0.0.1:{port}", channel_creds)
        else:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        async with channel:
            yield channel
    finally:
        await server.stop(None)


def md(token: str | None, subject: str = SUBJECT, **extra: str) -> tuple[tuple[str, str], ...]:
    out = [("x-subject", subject)] + [(k.replace("_", "-"), v) for k, v in extra.items()]
    if token is not None:
        out.append(("authorization", f"Bearer {token}"))
    return tuple(out)


async def unary(channel: grpc.aio.Channel, method: str, metadata: Any) -> bytes:
    call = channel.unary_unary(f"/{SERVICE}/{method}")
    result: bytes = await call(b"", metadata=metadata, timeout=10)
    return result


@pytest.mark.parametrize("mtls", [False, True], ids=["plaintext", "mtls"])
async def test_verified_call_sees_its_context(
    root: KeyPair, mint: Callable[..., str], mtls: bool
) -> None:
    interceptor = HessraServerInterceptor(public_keys=root.public_key)
    async with serving(interceptor, mtls=mtls) as channel:
        got = await unary(channel, "Get", md(mint(), x_resource="orders", x_operation="read"))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await unary(channel, "Get", md(mint(), x_resource="orders", x_operation="write"))
    assert json.loads(got) == [SUBJECT, "orders", "read", None]
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("metadata", "code", "reason"),
    [
        (
            md(None, x_resource="orders", x_operation="read"),
            grpc.StatusCode.UNAUTHENTICATED,
            "missing_token",
        ),
        (
            md("garbage", x_resource="orders", x_operation="read"),
            grpc.StatusCode.UNAUTHENTICATED,
            "malformed_token",
        ),
        (md("TOKEN", x_resource="orders"), grpc.StatusCode.UNAUTHENTICATED, "missing_field"),
        (
            md("TOKEN", x_resource="orders", x_operation="delete"),
            grpc.StatusCode.PERMISSION_DENIED,
            "operation_mismatch",
        ),
        (
            md("TOKEN", subject="uri:urn:user:evil", x_resource="orders", x_operation="read"),
            grpc.StatusCode.PERMISSION_DENIED,
            "subject_mismatch",
        ),
    ],
    ids=["no-token", "garbage", "no-operation", "wrong-operation", "wrong-subject"],
)
async def test_refused_calls_abort_with_a_status_and_reason(
    root: KeyPair,
    mint: Callable[..., str],
    metadata: tuple[tuple[str, str], ...],
    code: grpc.StatusCode,
    reason: str,
) -> None:
    token = mint()
    sent = tuple((k, v.replace("TOKEN", token)) for k, v in metadata)
    async with serving(HessraServerInterceptor(public_keys=root.public_key)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await unary(channel, "Get", sent)
    assert info.value.code() == code
    assert (info.value.details() or "").startswith(f"{reason}: ")
    assert token not in (info.value.details() or "")


METHODS = {
    f"/{SERVICE}/Get": ("orders", "read"),
    f"/{SERVICE}/Watch": ("orders", "watch"),
    f"/{SERVICE}/Upload": ("orders", "create"),
    f"/{SERVICE}/Ping": ("orders", "ping"),
}


async def test_method_derived_actions_for_every_rpc_kind(
    root: KeyPair, mint: Callable[..., str]
) -> None:
    interceptor = HessraServerInterceptor(
        public_keys=root.public_key, methods=METHODS, exempt_methods={f"/{SERVICE}/Health"}
    )
    async with serving(interceptor) as channel:
        # Client headers claiming another action are ignored: the method decides.
        got = await unary(channel, "Get", md(mint(), x_resource="x", x_operation="y"))
        assert json.loads(got)[1:3] == ["orders", "read"]

        stream = channel.unary_stream(f"/{SERVICE}/Watch")
        items = [m async for m in stream(b"", metadata=md(mint(operation="watch")), timeout=10)]
        assert [json.loads(i)[2] for i in items] == ["watch", "watch"]

        async def requests() -> AsyncIterator[bytes]:
            for _ in range(3):
                yield b"x"

        up = channel.stream_unary(f"/{SERVICE}/Upload")
        got = await up(requests(), metadata=md(mint(operation="create")), timeout=10)
        assert got.endswith(b"3")

        got = await unary(channel, "Ping", md(mint(operation="ping")))
        assert json.loads(got)[2] == "ping"

        # A read token cannot call the streaming method mapped to another operation.
        with pytest.raises(grpc.aio.AioRpcError) as info:
            _ = [m async for m in stream(b"", metadata=md(mint()), timeout=10)]
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED

        assert await unary(channel, "Health", ()) == b"ok"


async def test_unmapped_method_is_denied(root: KeyPair, mint: Callable[..., str]) -> None:
    interceptor = HessraServerInterceptor(
        public_keys=root.public_key, methods={f"/{SERVICE}/Get": ("orders", "read")}
    )
    async with serving(interceptor) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await unary(channel, "Ping", md(mint()))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (info.value.details() or "").startswith("unmapped_route: ")


async def test_unknown_method_stays_unimplemented(root: KeyPair) -> None:
    async with serving(HessraServerInterceptor(public_keys=root.public_key)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await unary(channel, "Nope", ())
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_chain_verification_as_a_component(world: ChainWorld) -> None:
    interceptor = HessraServerInterceptor(
        public_keys=world.root.public_key,
        chain=world.chain,
        component="fraud_detection",
        methods={f"/{SERVICE}/Get": ("payment_processor", "charge")},
    )
    async with serving(interceptor) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await unary(channel, "Get", md(world.mint()))
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert info.value.details() == "missing_attestation: Missing attestation from: api_gateway"
        token = world.attest(world.mint(), "api_gateway")
        got = await unary(channel, "Get", md(token))
    assert json.loads(got) == [SUBJECT, "payment_processor", "charge", "fraud_detection"]


def _by_tenant(method: str, metadata: Any) -> tuple[str, str] | None:
    # A resolver that lets a metadata value pick the resource, as a multi-tenant server might.
    return (metadata["x-tenant"], "read") if "x-tenant" in metadata else None


async def test_resolver_answers_when_each_key_appears_once(
    root: KeyPair, mint: Callable[..., str]
) -> None:
    interceptor = HessraServerInterceptor(public_keys=root.public_key, resolve=_by_tenant)
    async with serving(interceptor) as channel:
        got = await unary(channel, "Get", md(mint(), x_tenant="orders"))
    assert json.loads(got) == [SUBJECT, "orders", "read", None]


async def test_resolver_never_sees_a_repeated_metadata_key(
    root: KeyPair, mint: Callable[..., str]
) -> None:
    # A token for `orders` plus a second x-tenant: the resolver must not get to pick one.
    interceptor = HessraServerInterceptor(public_keys=root.public_key, resolve=_by_tenant)
    metadata = (*md(mint(), x_tenant="orders"), ("x-tenant", "billing"))
    async with serving(interceptor) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await unary(channel, "Get", metadata)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert info.value.details() == "malformed_request: Metadata x-tenant appears more than once"


def test_current_auth_outside_a_call() -> None:
    with pytest.raises(LookupError):
        current_auth()
