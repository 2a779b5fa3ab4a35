"""Every call has a deadline: a client refuses a timeout that would let it wait for ever."""

from __future__ import annotations

from typing import Any

import pytest

from hessra import AsyncHessra, ConfigError, Hessra

BAD = [
    (None, "None"),
    (float("inf"), "inf"),
    (float("nan"), "nan"),
    (0, "0"),
    (-1.5, "-1.5"),
    ("5", "'5'"),
    (True, "True"),
]


@pytest.mark.parametrize("client_type", [Hessra, AsyncHessra], ids=["sync", "async"])
@pytest.mark.parametrize(("timeout", "shown"), BAD, ids=[b[1] for b in BAD])
def test_a_timeout_that_is_not_a_finite_positive_number_is_refused(
    client_type: Any, timeout: Any, shown: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        client_type("127.0.0.1:50051", timeout=timeout)
    assert f"timeout must be > 0 (a finite number of seconds), got {shown}" in caught.value.message


@pytest.mark.parametrize("timeout", [0.05, 3, 10.0], ids=["50ms", "3s_int", "10s"])
def test_finite_positive_timeouts_are_kept(timeout: float) -> None:
    client = Hessra("127.0.0.1:50051", timeout=timeout)
    assert client.config.timeout == timeout
    client.close()


def test_the_default_timeout_is_ten_seconds() -> None:
    assert Hessra("127.0.0.1:50051").config.timeout == 10.0
