"""The subscriber's reconnect delays: full jitter under a doubling, capped ceiling."""

from __future__ import annotations

import random

import pytest

from hessra_core.rpc.subscriber import backoff_delay


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(0, 1.0), (1, 2.0), (3, 8.0), (5, 10.0), (400, 10.0)],
    ids=["first", "second", "fourth", "capped", "huge-attempt"],
)
def test_delays_fill_the_whole_window_under_the_ceiling(attempt: int, ceiling: float) -> None:
    rng = random.Random(attempt)
    delays = [backoff_delay(attempt, 1.0, 10.0, rng) for _ in range(2000)]
    assert max(delays) <= ceiling
    # Full jitter: subscribers that lost their streams together spread over the whole
    # window. Equal jitter (the upper half only) would put none in the lower tenth.
    assert min(delays) < ceiling * 0.1
    assert max(delays) > ceiling * 0.9
