"""Each activity has one body (activities/) and one stub the workflows name (workflows/*_activities.py):
the worker's list and the stubs must agree on every name and on each argument's type."""

from __future__ import annotations

import importlib
import inspect
import typing
from pathlib import Path
from types import SimpleNamespace

from temporalio import activity

from activities import build_activities

ROOT = Path(__file__).resolve().parents[2]


def stubs() -> dict[str, object]:
    found = {}
    for path in (ROOT / "workflows").glob("*_activities.py"):
        module = importlib.import_module(f"workflows.{path.stem}")
        for fn in vars(module).values():
            definition = activity._Definition.from_callable(fn) if callable(fn) else None
            if definition is not None:
                found[definition.name] = fn
    return found


def worker_list() -> list:
    # Building the list only binds the bodies to their services; nothing connects yet.
    return build_activities(SimpleNamespace(settings=SimpleNamespace(recordings_dir="/nonexistent")))


def registered() -> dict[str, object]:
    return {activity._Definition.must_from_callable(fn).name: fn for fn in worker_list()}


def test_every_stub_has_exactly_one_body_and_every_body_a_stub():
    bodies = registered()
    assert len(bodies) == len(worker_list()), "an activity name is registered twice"
    assert set(stubs()) == set(bodies)


def test_stub_and_body_take_and_return_the_same_types():
    bodies = registered()
    for name, stub in stubs().items():
        want = typing.get_type_hints(stub)
        got = typing.get_type_hints(bodies[name])
        assert want == got, name
        assert len(inspect.signature(stub).parameters) == len(inspect.signature(bodies[name]).parameters), name
