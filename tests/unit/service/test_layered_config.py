"""The layered config helpers: file -> env -> flags, every problem reported at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from hessra_core.errors import ConfigError
from hessra_core.service.layered_config import (
    POLICY_KEYS,
    Schema,
    build_config,
    check_health_port,
    check_policy_source,
    check_runtime,
    convert,
    health_port_clashes,
    is_host_port,
    merge_layers,
    unknown_env_vars,
)

SCHEMA = Schema(
    "HESSRA_DEMO_",
    {
        ("server", "listen"): ("listen", "str"),
        ("server", "health_listen"): ("health_listen", "str?"),
        ("server", "workers"): ("workers", "int"),
        ("server", "grace"): ("grace", "float"),
        ("server", "cert_file"): ("cert_file", "path"),
        ("keys", "files"): ("key_files", "paths"),
        ("keys", "public"): ("public_keys", "strs"),
    },
)


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("str", "a:1", "a:1"),
        ("str", "", ""),
        ("str?", "", None),
        ("int", "7", 7),
        ("int", 7, 7),
        ("float", "0.5", 0.5),
        ("path", "x/y", Path("/base/x/y")),
        ("path", "", None),
        ("path", "/abs", Path("/abs")),
        ("paths", "a, ,b", (Path("/base/a"), Path("/base/b"))),
        ("paths", ["a", Path("b")], (Path("/base/a"), Path("/base/b"))),
        ("strs", "k1,k2 ", ("k1", "k2")),
        ("strs", ["k1"], ("k1",)),
    ],
    ids=lambda v: repr(v),
)
def test_convert_turns_raw_values_into_their_kind(kind: str, raw: Any, expected: Any) -> None:
    problems: list[str] = []
    assert convert(kind, raw, "here", Path("/base"), problems) == expected
    assert problems == []


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("str", 5, "here: expected a string"),
        ("int", True, "here: expected an integer"),
        ("int", "many", "here: 'many' is not a valid int"),
        ("float", False, "here: expected a number"),
        ("float", "fast", "here: 'fast' is not a valid float"),
        ("path", 3, "here: expected a path string"),
        ("paths", 3, "here: expected a list of path strings"),
        ("paths", ["a", 1], "here: expected a list of path strings"),
        ("strs", {"a": 1}, "here: expected a list of strings"),
    ],
    ids=[
        "str",
        "int-bool",
        "int-text",
        "float-bool",
        "float-text",
        "path",
        "paths",
        "mixed",
        "strs",
    ],
)
def test_convert_records_why_a_value_does_not_fit(kind: str, raw: Any, message: str) -> None:
    problems: list[str] = []
    assert convert(kind, raw, "here", Path("/base"), problems) is None
    assert problems == [message]


def test_a_schema_can_reword_the_expected_type() -> None:
    problems: list[str] = []
    convert("paths", 3, "here", Path("/"), problems, {"paths": "a list of strings"})
    assert problems == ["here: expected a list of strings"]


def test_a_schema_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown setting kinds"):
        Schema("X_", {("a", "b"): ("b", "bytes")})


def test_layers_apply_file_then_env_then_flags(tmp_path: Path, monkeypatch: Any) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    config_file = conf_dir / "demo.toml"
    config_file.write_text(
        '[server]\nlisten = "127.0.0.1:1"\nworkers = 1\ngrace = 1.5\ncert_file = "tls/c.pem"\n'
        '[keys]\nfiles = ["k.pem"]\n'
    )
    monkeypatch.chdir(tmp_path)
    env = {"HESSRA_DEMO_SERVER_WORKERS": "2", "HESSRA_DEMO_SERVER_LISTEN": "127.0.0.1:2"}
    problems: list[str] = []
    merged = merge_layers(SCHEMA, config_file, env, {"workers": "3", "grace": None}, problems)
    assert problems == []
    assert merged == {
        "listen": "127.0.0.1:2",  # env beats the file
        "workers": 3,  # a flag beats env and file
        "grace": 1.5,  # an unset flag (None) changes nothing
        "cert_file": conf_dir / "tls/c.pem",  # relative to the file
        "key_files": (conf_dir / "k.pem",),
    }
    # From the environment, a relative path resolves against the working directory.
    merged = merge_layers(SCHEMA, None, {"HESSRA_DEMO_SERVER_CERT_FILE": "c.pem"}, None, problems)
    assert merged == {"cert_file": tmp_path / "c.pem"}


def test_an_empty_optional_string_in_a_later_layer_switches_it_off(tmp_path: Path) -> None:
    config_file = tmp_path / "demo.toml"
    config_file.write_text('[server]\nhealth_listen = "127.0.0.1:9"\n')
    problems: list[str] = []
    env = {"HESSRA_DEMO_SERVER_HEALTH_LISTEN": ""}
    assert merge_layers(SCHEMA, config_file, env, None, problems) == {"health_listen": None}


def test_every_problem_of_every_layer_is_reported_at_once(tmp_path: Path) -> None:
    config_file = tmp_path / "demo.toml"
    config_file.write_text('listen = 1\n[server]\nworkers = "x"\nnope = 1\n')
    env = {"HESSRA_DEMO_SERVER_GRACE": "soon", "HESSRA_DEMO_BOGUS": "1", "OTHER": "ignored"}
    problems: list[str] = []
    merged = merge_layers(SCHEMA, config_file, env, {"workers": "y", "colour": "red"}, problems)
    assert merged == {}
    assert problems == [
        f"{config_file}: `listen` must be a table ([listen])",
        f"{config_file}: server.workers: 'x' is not a valid int",
        f"{config_file}: unknown key `server.nope`",
        "environment: HESSRA_DEMO_SERVER_GRACE: 'soon' is not a valid float",
        "environment: unknown variable HESSRA_DEMO_BOGUS",
        "flags: workers: 'y' is not a valid int",
        "flags: unknown option colour",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read config file: No such file or directory"),
        ("[server\n", "invalid TOML: "),
    ],
    ids=["missing", "bad-toml"],
)
def test_an_unreadable_file_is_one_problem(
    tmp_path: Path, content: str | None, message: str
) -> None:
    config_file = tmp_path / "demo.toml"
    if content is not None:
        config_file.write_text(content)
    problems: list[str] = []
    assert merge_layers(SCHEMA, config_file, {}, None, problems) == {}
    assert len(problems) == 1
    assert problems[0].startswith(f"{config_file}: {message}")


def test_unknown_env_vars_keeps_the_environment_order() -> None:
    env = ["P_B", "Q_X", "P_A", "P_KNOWN"]
    assert unknown_env_vars(env, "P_", {"P_KNOWN"}) == ["P_B", "P_A"]


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("127.0.0.1:0", True),
        ("[::1]:50051", True),
        ("localhost:65535", True),
        ("localhost:65536", False),
        (":80", False),
        ("host", False),
        ("host:http", False),
    ],
    ids=["ephemeral", "ipv6", "max-port", "too-big", "no-host", "no-port", "named-port"],
)
def test_is_host_port(address: str, ok: bool) -> None:
    assert is_host_port(address) is ok


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        ("0.0.0.0:0", []),
        ("0.0.0.0:9000", []),
        ("0.0.0.0:50051", ["server.health_listen: port 50051 is also server.listen's port"]),
        ("bad", ["server.health_listen: 'bad' is not host:port (port 0..65535)"]),
    ],
    ids=["ephemeral", "distinct", "clash", "malformed"],
)
def test_check_health_port(health: str, expected: list[str]) -> None:
    problems: list[str] = []
    check_health_port(health, {"server.listen": "127.0.0.1:50051"}, problems)
    assert problems == expected


def test_health_port_clashes_names_every_listener_sharing_the_port() -> None:
    others = {"server.a": "h:7", "server.b": "h:8", "server.c": "other:7"}
    assert health_port_clashes("h:7", others) == [
        "server.health_listen: port 7 is also server.a's port",
        "server.health_listen: port 7 is also server.c's port",
    ]


def test_check_runtime_reports_each_bad_value() -> None:
    problems: list[str] = []
    check_runtime({"shutdown_grace": -1, "log_level": "loud", "policy_poll_interval": 0}, problems)
    assert problems == [
        "server.shutdown_grace must be >= 0",
        "server.log_level must be one of debug, info, warning, error",
        "policy.poll_interval must be > 0",
    ]
    problems.clear()
    check_runtime({}, problems)
    assert problems == []


def test_check_policy_source_wants_exactly_one_source(tmp_path: Path) -> None:
    problems: list[str] = []
    check_policy_source({}, problems)
    assert problems == ["exactly one of policy.dir and policy.sync_target is required"]
    problems.clear()
    check_policy_source({"policy_dir": tmp_path}, problems)
    assert problems == []
    problems.clear()
    check_policy_source({"policy_dir": tmp_path / "missing"}, problems)
    assert problems == [f"policy.dir: {tmp_path / 'missing'} is not a directory"]


def test_check_policy_source_wants_the_sync_files(tmp_path: Path) -> None:
    problems: list[str] = []
    cfg = {"sync_target": "127.0.0.1:1", "sync_ca_file": tmp_path / "ca.pem"}
    check_policy_source(cfg, problems)
    assert problems == [
        "policy.sync_cert_file is required with policy.sync_target",
        "policy.sync_key_file is required with policy.sync_target",
        "policy.snapshot_file is required with policy.sync_target",
        f"policy.sync_ca_file: {tmp_path / 'ca.pem'} does not exist or is not readable",
    ]


def test_flags_are_the_single_valued_fields_in_schema_order() -> None:
    assert SCHEMA.flags() == {
        "listen": "listen",
        "health_listen": "health_listen",
        "workers": "workers",
        "grace": "grace",
        "cert_file": "cert_file",
    }
    assert list(SCHEMA.flags(rename={"cert_file": "cert"}).items())[-1] == ("cert", "cert_file")


def test_the_shared_policy_section_reads_from_file_and_env(tmp_path: Path) -> None:
    schema = Schema("HESSRA_DEMO_", POLICY_KEYS)
    config_file = tmp_path / "demo.toml"
    config_file.write_text('[policy]\ndir = "policy"\npoll_interval = 0.5\nsync_target = ""\n')
    env = {"HESSRA_DEMO_POLICY_SNAPSHOT_FILE": "/var/lib/last.snapshot"}
    problems: list[str] = []
    merged = merge_layers(schema, config_file, env, None, problems)
    assert problems == []
    assert merged == {
        "policy_dir": tmp_path / "policy",
        "policy_poll_interval": 0.5,
        "sync_target": None,
        "snapshot_file": Path("/var/lib/last.snapshot"),
    }


@dataclasses.dataclass(frozen=True)
class _DemoConfig:
    listen: str
    keys: tuple[str, ...]
    grace: float = 5.0


def test_build_config_keeps_known_fields_and_adds_extras() -> None:
    merged = {"listen": "h:1", "grace": 2.0, "key_files": ("a",), "keys": ("ignored",)}
    config = build_config(_DemoConfig, merged, [], source="demo config", keys=("k",))
    assert config == _DemoConfig(listen="h:1", keys=("k",), grace=2.0)


def test_build_config_raises_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(_DemoConfig, {"listen": "h:1"}, ["one", "two"], source="demo config")
    assert caught.value.problems == ("one", "two")
    assert str(caught.value) == "invalid demo config:\n  - one\n  - two"
