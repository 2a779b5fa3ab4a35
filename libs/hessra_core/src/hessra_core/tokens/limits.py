"""Datalog run limits for every authorization we run.

biscuit's default limit is 1 ms of evaluation time. On a loaded machine that
fires on perfectly good tokens (Hessra's own verifier rejects about one valid
token in 20,000 that way), so we set the limits explicitly: generous on time,
tight on facts and iterations, which bound the work a hostile token can cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

from hessra_core.tokens._biscuit import biscuit


@dataclass(frozen=True)
class RunLimits:
    max_time_ms: int = 30
    max_facts: int = 1000
    max_iterations: int = 100

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be positive"
            for name in ("max_time_ms", "max_facts", "max_iterations")
            if getattr(self, name) <= 0
        ]
        if problems:
            raise ValueError("; ".join(problems))

    @cached_property
    def _biscuit_limits(self) -> Any:
        # biscuit-python has no public constructor for limits: start from the
        # defaults an empty builder carries and overwrite every field.
        limits = biscuit.AuthorizerBuilder().limits()
        limits.max_time = timedelta(milliseconds=self.max_time_ms)
        limits.max_facts = self.max_facts
        limits.max_iterations = self.max_iterations
        return limits

    def apply(self, builder: Any) -> None:
        builder.set_limits(self._biscuit_limits)


DEFAULT_LIMITS = RunLimits()

__all__ = ["DEFAULT_LIMITS", "RunLimits"]
