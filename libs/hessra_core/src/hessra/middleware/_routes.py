"""Map an HTTP method and path to the (resource, operation) an endpoint performs.

Deriving the action from the route, instead of trusting ``x-resource`` and
``x-operation`` from the caller, means a token for ``orders/read`` cannot be
replayed against an endpoint that deletes: the server, not the client, says
what the request does.

Keys are ``"METHOD /path/{param}"`` or ``"/path/{param}"`` (any method); a
``{name}`` segment matches exactly one non-empty path segment. Entries are
tried in the order given, method-specific ones before any-method ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hessra_core.errors import ConfigError


@dataclass(frozen=True)
class _Route:
    method: str | None
    segments: tuple[str, ...]
    action: tuple[str, str]

    def matches(self, method: str, segments: tuple[str, ...]) -> bool:
        if self.method is not None and self.method != method:
            return False
        if len(segments) != len(self.segments):
            return False
        for want, got in zip(self.segments, segments, strict=True):
            if want.startswith("{") and want.endswith("}"):
                if not got:
                    return False
            elif want != got:
                return False
        return True


def _split(path: str) -> tuple[str, ...]:
    return tuple(path.strip("/").split("/")) if path.strip("/") else ()


@dataclass(frozen=True)
class RouteMap:
    routes: tuple[_Route, ...]

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, tuple[str, str]]) -> RouteMap:
        problems: list[str] = []
        specific: list[_Route] = []
        generic: list[_Route] = []
        for key, action in mapping.items():
            method, _, path = key.strip().rpartition(" ")
            if not path.startswith("/"):
                problems.append(f"route {key!r}: the path must start with '/'")
                continue
            if not (
                isinstance(action, tuple)
                and len(action) == 2
                and all(isinstance(a, str) and a for a in action)
            ):
                problems.append(f"route {key!r}: the value must be (resource, operation)")
                continue
            route = _Route(method.strip().upper() or None, _split(path), action)
            (specific if route.method else generic).append(route)
        if problems:
            raise ConfigError(problems, source="route map")
        return cls((*specific, *generic))

    def resolve(self, method: str, path: str) -> tuple[str, str] | None:
        segments = _split(path)
        for route in self.routes:
            if route.matches(method.upper(), segments):
                return route.action
        return None
