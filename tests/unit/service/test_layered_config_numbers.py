"""Numbers in a config must be what they say: no silent rounding, no NaN or infinity.

``processes = 2.7`` used to become 2 workers without a word, and ``shutdown_grace = "nan"``
or ``"inf"`` passed every range check (a comparison with NaN is always false) to reach
the shutdown path as a wait that never ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hessra_core.service.layered_config import Schema, convert, merge_layers

SCHEMA = Schema(
    "HESSRA_DEMO_",
    {
        ("server", "workers"): ("workers", "int"),
        ("server", "grace"): ("grace", "float"),
    },
)


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("int", 2.7, "here: 2.7 is not a whole number"),
        ("int", float("nan"), "here: nan is not a whole number"),
        ("int", float("inf"), "here: inf is not a whole number"),
        ("float", "nan", "here: 'nan' is not a finite number"),
        ("float", "inf", "here: 'inf' is not a finite number"),
        ("float", "-Infinity", "here: '-Infinity' is not a finite number"),
        ("float", float("inf"), "here: inf is not a finite number"),
    ],
    ids=[
        "int-fraction",
        "int-nan",
        "int-inf",
        "float-nan",
        "float-inf",
        "float-minus-inf",
        "float-toml-inf",
    ],
)
def test_a_number_that_is_not_what_it_claims_is_a_problem(
    kind: str, raw: Any, message: str
) -> None:
    problems: list[str] = []
    assert convert(kind, raw, "here", Path("/"), problems) is None
    assert problems == [message]


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [("int", 3.0, 3), ("int", " 4 ", 4), ("float", 2, 2.0), ("float", "1e-3", 0.001)],
    ids=["int-whole-float", "int-text", "float-int", "float-exponent"],
)
def test_numbers_that_fit_still_convert(kind: str, raw: Any, expected: Any) -> None:
    problems: list[str] = []
    assert convert(kind, raw, "here", Path("/"), problems) == expected
    assert problems == []


def test_the_file_and_the_environment_name_the_offending_key(tmp_path: Path) -> None:
    config = tmp_path / "demo.toml"
    config.write_text("[server]\nworkers = 2.5\ngrace = inf\n")
    problems: list[str] = []
    merge_layers(SCHEMA, config, {"HESSRA_DEMO_SERVER_GRACE": "NaN"}, None, problems)
    assert problems == [
        f"{config}: server.workers: 2.5 is not a whole number",
        f"{config}: server.grace: inf is not a finite number",
        "environment: HESSRA_DEMO_SERVER_GRACE: 'NaN' is not a finite number",
    ]
