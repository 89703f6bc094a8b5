"""Argument checks shared by the blocks."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def check_choice(block: str, knob: str, value: Any, allowed: Collection[Any]) -> None:
    """Raise ValueError naming ``block``, ``knob`` and the allowed values unless allowed."""
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{block}: {knob}={value!r} is not allowed; choose one of {choices}")
