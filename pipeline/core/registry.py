"""Name -> implementation lookup shared by every extension point."""
from __future__ import annotations

import inspect
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class UnknownNameError(ValueError):
    """A config or SDK call named an implementation that is not registered."""


def lookup(registry: dict[str, T], name: str, what: str) -> T:
    if name not in registry:
        valid = ", ".join(sorted(registry)) or "(none registered)"
        raise UnknownNameError(f"unknown {what} {name!r}; valid: {valid}")
    return registry[name]


def build(registry: dict[str, Callable[..., T]], name: str, what: str, **options: Any) -> T:
    """Look `name` up and call it with `options`, rejecting options it does not take by name."""
    factory = lookup(registry, name, what)
    accepted = set(inspect.signature(factory).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(f"{what} {name!r} takes {sorted(accepted) or 'no options'}, not {unknown}")
    return factory(**options)
