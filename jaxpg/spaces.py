"""Action and observation spaces by what they hold, not by class (no gymnax import needed).

jaxpg accepts any gymnax-style space: a discrete one has an integer ``n``; a box has ``low``,
``high`` and ``shape``. Duck typing keeps the core modules free of gymnax's import cost and
lets environments from other libraries (Brax, MuJoCo Playground, a user's own) bring their
own space classes.
"""

from __future__ import annotations

from typing import Any


def is_discrete(space: Any) -> bool:
    """True for a space of ``n`` integer actions (gymnax ``Discrete``)."""
    return hasattr(space, "n") and not hasattr(space, "low")


def is_box(space: Any) -> bool:
    """True for a box of real vectors with bounds ``low`` and ``high`` (gymnax ``Box``)."""
    return hasattr(space, "low") and hasattr(space, "high") and hasattr(space, "shape")


def describe(space: Any) -> str:
    """A short description for error messages."""
    if is_discrete(space):
        return f"Discrete({space.n})"
    if is_box(space):
        return f"Box(shape={tuple(space.shape)})"
    return type(space).__name__
