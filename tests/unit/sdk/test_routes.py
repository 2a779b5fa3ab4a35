"""RouteMap: deriving (resource, operation) from the HTTP method and path."""

from __future__ import annotations

import pytest

from hessra.middleware._routes import RouteMap
from hessra_core.errors import ConfigError

ROUTES = RouteMap.from_mapping(
    {
        "/orders/{id}": ("orders", "any"),
        "GET /orders/{id}": ("orders", "read"),
        "POST /orders": ("orders", "create"),
        "GET /": ("home", "read"),
        "GET /orders/{id}/items/{item}": ("order_items", "read"),
    }
)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/orders/7", ("orders", "read")),
        ("get", "/orders/7/", ("orders", "read")),
        ("DELETE", "/orders/7", ("orders", "any")),
        ("POST", "/orders", ("orders", "create")),
        ("GET", "/orders", None),
        ("GET", "/orders//", None),
        ("GET", "/", ("home", "read")),
        ("GET", "/orders/7/items/3", ("order_items", "read")),
        ("GET", "/orders/7/items", None),
        ("GET", "/Orders/7", None),
    ],
    ids=[
        "method-specific-first",
        "case-and-trailing-slash",
        "any-method-fallback",
        "exact",
        "param-needs-a-segment",
        "empty-segment",
        "root",
        "two-params",
        "too-short",
        "case-sensitive-path",
    ],
)
def test_resolve(method: str, path: str, expected: tuple[str, str] | None) -> None:
    assert ROUTES.resolve(method, path) == expected


def test_every_bad_entry_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        RouteMap.from_mapping(
            {
                "GET orders": ("orders", "read"),
                "/x": ("only-resource",),  # type: ignore[dict-item]
                "/y": ("orders", ""),
            }
        )
    assert len(info.value.problems) == 3
    assert "the path must start with '/'" in info.value.problems[0]
    assert "(resource, operation)" in info.value.problems[1]
