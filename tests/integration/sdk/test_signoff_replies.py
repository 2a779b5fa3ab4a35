"""A signer whose answer lacks its own sign-off is refused at collection, by name.

The issuer and the signer here are one scripted mTLS server (``scripted.py``): the
issuer answers with a real multi-party token minted for signer ``legal``; the
signer answers each way a faulty or hostile signer might. Collection must name
``legal`` at once, rather than hand back a token that fails later at a verifier.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import grpc
import pytest

from hessra import (
    AsyncHessra,
    Hessra,
    MalformedTokenError,
    MissingSignoffError,
    PermissionDeniedError,
    ServiceUnavailableError,
    SignoffCollectionError,
)
from hessra.v1 import issuer_pb2, signer_pb2
from hessra_core import tokens
from hessra_core.keys import KeyPair
from hessra_core.tokens import SignerRef
from hessra_core.tokens._authority import SIGNOFF_BLOCK
from hessra_core.tokens._load import append_third_party, load_token

from .scripted import Handler, ScriptedServer, hang, refuse, reply

ISSUER_KEY = KeyPair.generate()
LEGAL_KEY = KeyPair.generate()
OTHER_KEY = KeyPair.generate()
SUBJECT = "uri:urn:test:gateway"


def multi_party_token() -> str:
    minted = tokens.mint_token(
        ISSUER_KEY,
        subject=SUBJECT,
        resource="sensitive",
        operation="export",
        signers=[SignerRef("legal", LEGAL_KEY.public_key)],
    )
    return minted.token


def signed_by(key: KeyPair, name: str) -> Callable[[str], str]:
    def sign(token: str) -> str:
        loaded = load_token(token, ISSUER_KEY.public_key)
        return append_third_party(loaded, key, SIGNOFF_BLOCK, {"signer": name})

    return sign


# How the signer answers: (id, what it does to the token, should collection succeed)
ANSWERS: list[tuple[str, Callable[[str], str], bool]] = [
    ("proper_signoff", signed_by(LEGAL_KEY, "legal"), True),
    ("token_unchanged", lambda token: token, False),
    ("signed_with_another_key", signed_by(OTHER_KEY, "legal"), False),
    ("another_token", lambda token: multi_party_token(), False),
]


def script(server: ScriptedServer, answer: Callable[[str], str]) -> str:
    token = multi_party_token()
    pending = issuer_pb2.PendingSignoff(
        name="legal",
        endpoint=f"https://{server.target}",
        public_key=LEGAL_KEY.public_key.to_string(),
    )
    server.script(
        "RequestToken",
        reply(issuer_pb2.RequestTokenResponse(token=token, pending_signoffs=[pending])),
    )
    server.script("SignToken", reply(signer_pb2.SignTokenResponse(token=answer(token))))
    return token


@pytest.mark.parametrize(
    ("answer", "succeeds"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS]
)
def test_a_reply_without_the_signers_signoff_is_refused_naming_it(
    scripted: ScriptedServer, answer: Callable[[str], str], succeeds: bool
) -> None:
    script(scripted, answer)
    kwargs = scripted.client_kwargs(timeout=5.0, public_key=ISSUER_KEY.public_key)
    with Hessra(scripted.target, **kwargs) as client:
        response = client.request_token_full("sensitive", "export")
        if succeeds:
            token = client.collect_multi_party_signoffs(response, "sensitive", "export")
            client.verify_token_local(token, SUBJECT, "sensitive", "export")
            return
        with pytest.raises(SignoffCollectionError) as caught:
            client.collect_multi_party_signoffs(response, "sensitive", "export")
    error = caught.value
    assert error.signer == "legal"
    assert isinstance(error.cause, MissingSignoffError)
    assert "legal answered" in error.message
    assert response.token not in error.message


async def test_the_async_client_refuses_it_too_even_without_issuer_keys(
    scripted: ScriptedServer,
) -> None:
    script(scripted, lambda token: token)
    async with AsyncHessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client:
        response = await client.request_token_full("sensitive", "export")
        with pytest.raises(SignoffCollectionError) as caught:
            await client.collect_multi_party_signoffs(response, "sensitive", "export")
    assert caught.value.signer == "legal"
    assert "without its sign-off (signatures not checked" in caught.value.message


# (id, how the signer answers, the class of the error's cause)
FAULTS = [
    ("refusing", refuse(grpc.StatusCode.PERMISSION_DENIED, "legal says no"), PermissionDeniedError),
    ("garbage_token", reply(signer_pb2.SignTokenResponse(token="%%%")), MalformedTokenError),
    ("empty_token", reply(signer_pb2.SignTokenResponse(token="")), MalformedTokenError),
    ("hung", hang(5.0), ServiceUnavailableError),
]  # fmt: skip


@pytest.mark.parametrize(("handler", "cause"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_a_faulty_signer_is_named_with_the_cause(
    scripted: ScriptedServer, handler: Handler, cause: type[Exception]
) -> None:
    script(scripted, lambda token: token)
    scripted.script("SignToken", handler)
    kwargs = scripted.client_kwargs(timeout=0.5, public_key=ISSUER_KEY.public_key)
    with Hessra(scripted.target, **kwargs) as client:
        response = client.request_token_full("sensitive", "export")
        with pytest.raises(SignoffCollectionError) as caught:
            client.collect_multi_party_signoffs(response, "sensitive", "export")
    assert caught.value.signer == "legal"
    assert isinstance(caught.value.cause, cause)
    assert caught.value.message.startswith("Required signature from legal not found: legal at ")


def test_a_signer_that_is_down_is_named(scripted: ScriptedServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    token = multi_party_token()
    pending = issuer_pb2.PendingSignoff(
        name="legal", endpoint=f"https://127.0.0.1:{closed}", public_key="ed25519/00"
    )
    with (
        Hessra(scripted.target, **scripted.client_kwargs(timeout=2.0)) as client,
        pytest.raises(SignoffCollectionError) as caught,
    ):
        client.collect_multi_party_signoffs(token, "sensitive", "export", pending=[pending])
    assert caught.value.signer == "legal"
    assert isinstance(caught.value.cause, ServiceUnavailableError)
    assert f"127.0.0.1:{closed}" in caught.value.message
