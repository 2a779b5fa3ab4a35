"""structlog set-up shared by every service: JSON lines unless a person is watching.

Call :func:`configure_logging` once at process start. Loggers come from
``structlog.get_logger(name)``; every RPC writes exactly one canonical line through
the interceptor, so servicers rarely log themselves.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(level: str = "info", *, json: bool | None = None, **static: Any) -> None:
    """Route structlog to stderr; ``json=None`` picks JSON when stderr is not a TTY.

    ``static`` key/values (``service="issuer"``, ``worker=1``) are added to every line.
    """
    if level.lower() not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}: expected one of {sorted(_LEVELS)}")
    use_json = (not sys.stderr.isatty()) if json is None else json
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if static:
        fixed = dict(static)

        def add_static(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
            for key, value in fixed.items():
                event.setdefault(key, value)
            return event

        processors.append(add_static)
    processors.append(structlog.processors.format_exc_info)
    if use_json:
        processors.append(structlog.processors.JSONRenderer(sort_keys=False))
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level.lower()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


__all__ = ["configure_logging"]
