"""No route resolves its dependencies in a batch of more than one (wallet_api/deps.py,
``provide_actor``). Litestar resolves independent dependencies of one batch in an anyio task
group, started on every request: for our two providers, which only read an attribute, that
task group was about 0.1 ms of CPU per request, more than both providers together."""

from __future__ import annotations

from litestar.routes import HTTPRoute

from wallet_api.app import create_app


def test_every_route_resolves_its_dependencies_one_after_the_other() -> None:
    both = 0
    batched = []
    for route in create_app().routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (_handler, kwargs_model) in route.route_handler_map.items():
            names = {d.key for batch in kwargs_model.dependency_batches for d in batch}
            both += {"db", "actor"} <= names
            if any(len(batch) > 1 for batch in kwargs_model.dependency_batches):
                batched.append(f"{method} {route.path}")
    assert both > 50  # most routes take both the database and the actor
    assert batched == []
