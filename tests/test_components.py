"""The component boundary: every component takes `(name, args, opts)`, where `args` is a frozen
dataclass of what it reads (never a whole sibling component), and declares what it offers as
annotated attributes, each of them set once the program has run."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import pkgutil
import typing
from collections.abc import Mapping
from typing import Any

import pulumi
import pytest

import components
from agentplane.plan import run_program
from tests.support.plans import ROOT, STACKS


def component_classes() -> list[type[pulumi.ComponentResource]]:
    found = []
    for info in pkgutil.walk_packages(components.__path__, f"{components.__name__}."):
        module = importlib.import_module(info.name)
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, pulumi.ComponentResource) and cls.__module__ == module.__name__
        ]
    assert found
    return sorted(found, key=lambda cls: cls.__qualname__)


COMPONENTS = component_classes()


def own_outputs(cls: type) -> list[str]:
    return [name for name in cls.__dict__.get("__annotations__", {}) if not name.startswith("_")]


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda cls: cls.__qualname__)
def test_a_component_takes_name_args_and_opts(cls: type[pulumi.ComponentResource]) -> None:
    signature = inspect.signature(cls.__init__)
    assert list(signature.parameters) == ["self", "name", "args", "opts"]
    assert signature.parameters["opts"].default is None
    args_type = typing.get_type_hints(cls.__init__)["args"]
    assert dataclasses.is_dataclass(args_type) and args_type.__dataclass_params__.frozen
    assert args_type.__name__ == f"{cls.__name__}Args"


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda cls: cls.__qualname__)
def test_a_component_declares_its_outputs(cls: type[pulumi.ComponentResource]) -> None:
    assert own_outputs(cls), f"{cls.__qualname__} declares no outputs"


@functools.cache
def built() -> tuple[list[pulumi.ComponentResource], list[Any]]:
    """Every component instance the program builds for the example stacks, nested ones included,
    and every args object a component was constructed with."""
    instances: list[pulumi.ComponentResource] = []
    args_seen: list[Any] = []
    with pytest.MonkeyPatch.context() as patch:
        for cls in COMPONENTS:

            def recording(self, name, args, opts=None, *, _init=cls.__init__):
                instances.append(self)
                args_seen.append(args)
                _init(self, name, args, opts)

            patch.setattr(cls, "__init__", recording)
        for stack in STACKS:
            run_program(stack, root=ROOT)
    return instances, args_seen


def components_in(value: Any) -> list[pulumi.ComponentResource]:
    """The platform components in a value. Other resources (a Helm release, cert-manager's
    CertManager component) are what a component waits for and may be passed as they are."""
    if type(value) in COMPONENTS:
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [c for item in value for c in components_in(item)]
    return []


def test_every_component_is_built() -> None:
    instances, _ = built()
    assert {type(c) for c in instances} == set(COMPONENTS)


def test_args_hold_outputs_of_other_pieces_not_the_pieces() -> None:
    _, args_seen = built()
    assert args_seen
    for args in args_seen:
        for field in dataclasses.fields(args):
            whole = components_in(getattr(args, field.name))
            assert not whole, f"{type(args).__name__}.{field.name} holds whole components; pass the outputs it reads"


def test_args_are_frozen() -> None:
    _, args_seen = built()
    for args in args_seen:
        field = dataclasses.fields(args)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(args, field, None)


def test_every_declared_output_is_set() -> None:
    instances, _ = built()
    assert instances
    for component in instances:
        for name in own_outputs(type(component)):
            assert hasattr(component, name), f"{type(component).__qualname__}.{name} is declared but never set"
