"""ServiceChain: built in code, read from chain.toml, resources.toml (both forms) and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hessra import ChainConfigError, KeyPair, PublicKey, ServiceChain, ServiceNode

KEYS = [KeyPair.generate().public_key for _ in range(3)]
NAMES = ["api_gateway", "fraud_detection", "payment_processor"]


def _expected() -> ServiceChain:
    return ServiceChain(tuple(ServiceNode(n, k) for n, k in zip(NAMES, KEYS, strict=True)))


CHAIN_TOML = "\n".join(
    f'[[nodes]]\ncomponent = "{n}"\npublic_key = "{k.to_string()}"\n'
    for n, k in zip(NAMES, KEYS, strict=True)
)
INLINE_TOML = (
    "nodes = [\n"
    + "".join(
        f'  {{ component = "{n}", public_key = "{k.to_string()}" }},\n'
        for n, k in zip(NAMES, KEYS, strict=True)
    )
    + "]\n"
)
SHORT_RESOURCES = (
    'version = "0.2.0"\n\n[resources.users]\n\n[resources.payment_processor]\n'
    'type = "service_chain"\nnodes = [\n'
    + "".join(
        f'  {{\n    component = "{n}",\n    public_key = "{k.to_string()}"\n  }},\n'
        for n, k in zip(NAMES, KEYS, strict=True)
    )
    + "]\n"
)
MECHANISM_RESOURCES = (
    'version = "0.2.0"\n\n[resources.payment_processing]\nmechanisms = ["service_chain"]\n\n'
    "[resources.payment_processing.service_chain]\nnodes = [\n"
    + "".join(
        f'  {{ component = "{n}", public_key = "{k.to_string()}" }},\n'
        for n, k in zip(NAMES, KEYS, strict=True)
    )
    + "]\n"
)
JSON_LIST = json.dumps(
    [{"component": n, "public_key": k.to_string()} for n, k in zip(NAMES, KEYS, strict=True)]
)


@pytest.mark.parametrize(
    ("filename", "text", "resource"),
    [
        ("chain.toml", CHAIN_TOML, None),
        ("chain.toml", INLINE_TOML, None),
        ("resources.toml", SHORT_RESOURCES, "payment_processor"),
        ("resources.toml", MECHANISM_RESOURCES, "payment_processing"),
        ("chain.json", JSON_LIST, None),
        ("chain.json", json.dumps({"nodes": json.loads(JSON_LIST)}), None),
    ],
    ids=[
        "array-of-tables",
        "inline-nodes",
        "resources-short",
        "resources-mechanisms",
        "json",
        "json-nodes",
    ],
)
def test_every_file_form_loads_the_same_chain(
    tmp_path: Path, filename: str, text: str, resource: str | None
) -> None:
    path = tmp_path / filename
    path.write_text(text)
    chain = ServiceChain.load(path, resource=resource)
    assert chain == _expected()
    assert chain.components == tuple(NAMES)


def test_built_in_code_like_the_rust_sdk() -> None:
    chain = (
        ServiceChain()
        .with_node("api_gateway", KEYS[0].to_string())
        .with_node(ServiceNode("fraud_detection", KEYS[1]))
        .with_node("payment_processor", KEYS[2])
    )
    assert chain == _expected()
    assert "fraud_detection" in chain
    assert "nobody" not in chain
    assert chain.before("payment_processor").components == ("api_gateway", "fraud_detection")
    assert chain.before("api_gateway").components == ()
    assert chain.node("fraud_detection").public_key == KEYS[1]


def test_round_trip() -> None:
    assert ServiceChain.from_json(_expected().to_json()) == _expected()
    assert ServiceChain.from_toml(_expected().to_toml()) == _expected()


def test_json_is_what_hessra_py_takes() -> None:
    data = json.loads(_expected().to_json())
    assert data[0] == {"component": "api_gateway", "public_key": KEYS[0].to_string()}


BAD_KEY_TOML = (
    '[[nodes]]\ncomponent = "a"\npublic_key = "' + KEYS[0].to_string() + '"\n\n'
    '[[nodes]]\ncomponent = "b"\npublic_key = "ed25519/zz"\n'
)


@pytest.mark.parametrize(
    ("text", "resource", "expected"),
    [
        (
            BAD_KEY_TOML,
            None,
            "chain.toml:7:14: nodes[1].public_key: ed25519 public key is not valid hex",
        ),
        ('nodes = [{ component = "a" }]\n', None, "nodes[0].public_key: a key string is required"),
        (
            f'nodes = [{{ component = "", public_key = "{KEYS[0]}" }}]\n',
            None,
            "nodes[0].component: a non-empty string is required",
        ),
        (
            f'nodes = [{{ component = "a", public_key = "{KEYS[0]}", url = "x" }}]\n',
            None,
            "nodes[0]: unknown field(s) url",
        ),
        ("nodes = []\n", None, "the chain is empty"),
        ("nodes = 3\n", None, "nodes: must be a list of nodes"),
        ("[other]\n", None, "expected [[nodes]] tables or a [resources] table"),
        ("nodes = [\n", None, "chain.toml:2:1: error: invalid TOML"),
        (SHORT_RESOURCES, None, "name the resource whose chain to use"),
        (
            SHORT_RESOURCES,
            "orders",
            "no resource 'orders' (resources here: payment_processor, users)",
        ),
        (SHORT_RESOURCES, "users", "resources.users: this resource has no service chain"),
        (
            f'nodes = [{{ component = "a", public_key = "{KEYS[0]}" }},'
            f' {{ component = "a", public_key = "{KEYS[1]}" }}]\n',
            None,
            "component 'a' appears twice in the chain",
        ),
        (
            f'nodes = [{{ component = "a", public_key = "{KEYS[0]}" }},'
            f' {{ component = "b", public_key = "{KEYS[0]}" }}]\n',
            None,
            "components 'a' and 'b' share one public key",
        ),
    ],
    ids=[
        "bad-key-with-line",
        "missing-key",
        "empty-component",
        "unknown-field",
        "empty",
        "not-a-list",
        "no-nodes",
        "toml-syntax",
        "resources-without-name",
        "unknown-resource",
        "resource-without-chain",
        "duplicate-component",
        "shared-key",
    ],
)
def test_bad_chain_files_say_where_and_what(
    tmp_path: Path, text: str, resource: str | None, expected: str
) -> None:
    path = tmp_path / "chain.toml"
    path.write_text(text)
    with pytest.raises(ChainConfigError) as info:
        ServiceChain.load(path, resource=resource)
    assert expected in str(info.value)
    assert info.value.reason == "invalid_chain_config"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "chain.toml"
    path.write_text(
        'nodes = [\n  { component = "a", public_key = "ed25519/00" },\n'
        '  { component = "b", public_key = "rsa/00" },\n]\n'
    )
    with pytest.raises(ChainConfigError) as info:
        ServiceChain.load(path)
    assert len(info.value.problems) == 2
    assert "chain.toml:2:35: nodes[0].public_key: invalid ed25519" in info.value.problems[0]
    assert (
        "chain.toml:3:35: nodes[1].public_key: unknown key algorithm 'rsa'"
        in info.value.problems[1]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("{", "invalid JSON"), ('[{"component": "a"}]', "[0].public_key: a key string is required")],
    ids=["syntax", "missing-key"],
)
def test_bad_json(text: str, expected: str) -> None:
    with pytest.raises(ChainConfigError, match=r".*") as info:
        ServiceChain.from_json(text)
    assert expected in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ChainConfigError, match="cannot read"):
        ServiceChain.load(tmp_path / "missing.toml")


def test_duplicates_refused_when_built_in_code() -> None:
    with pytest.raises(ChainConfigError, match="appears twice"):
        ServiceChain().with_node("a", KEYS[0]).with_node("a", KEYS[1])


def test_with_node_argument_errors() -> None:
    with pytest.raises(TypeError, match="public key is missing"):
        ServiceChain().with_node("a")
    with pytest.raises(TypeError, match="no separate public key"):
        ServiceChain().with_node(ServiceNode("a", KEYS[0]), KEYS[0])


def test_public_key_type_is_shared_with_the_engine() -> None:
    node = _expected().nodes[0]
    assert isinstance(node.public_key, PublicKey)
