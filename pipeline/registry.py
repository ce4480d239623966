"""Name -> implementation lookup shared by every extension point."""
from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class UnknownNameError(ValueError):
    """A config or SDK call named an implementation that is not registered."""


def lookup(registry: dict[str, T], name: str, what: str) -> T:
    if name not in registry:
        valid = ", ".join(sorted(registry)) or "(none registered)"
        raise UnknownNameError(f"unknown {what} {name!r}; valid: {valid}")
    return registry[name]
