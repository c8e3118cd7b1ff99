"""`make_env`: jaxpg's own environments by id, and every gymnax environment by pass-through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnax

from jaxpg.envs.cartpole import CartPole
from jaxpg.envs.gridworld import GridWorld


def _gridworld(
    grid: Any = None, start: Any = None, max_steps: int = 300, observation: str = "coordinates"
) -> GridWorld:
    kwargs: dict[str, Any] = {"max_steps": max_steps, "observation": observation}
    if grid is not None:
        kwargs["grid"] = grid
    if start is not None:
        kwargs["start"] = start
    return GridWorld(**kwargs)


_REGISTRY: dict[str, Callable[..., Any]] = {
    "CartPole-v1": lambda: CartPole(max_steps_in_episode=500),
    "CartPole-v0": lambda: CartPole(max_steps_in_episode=200),
    "GridWorld-v0": _gridworld,
}


def registered_envs() -> list[str]:
    """jaxpg's own environment ids (gymnax ids and ``gymnasium:<id>`` are accepted as well)."""
    return list(_REGISTRY)


def known_env_ids() -> list[str]:
    """Every id `make_env` accepts: jaxpg's, then gymnax's (``gymnasium:<id>`` besides)."""
    return registered_envs() + [i for i in gymnax.registered_envs if i not in _REGISTRY]


def make_env(env_id: str, **kwargs: Any) -> tuple[Any, Any]:
    """Creates an environment and its default parameters.

    Args:
        env_id: ``"CartPole-v1"``, ``"CartPole-v0"``, ``"GridWorld-v0"``, any gymnax id
            (e.g. ``"Pendulum-v1"``), ``"gymnasium:<id>"`` for a host-side gymnasium
            environment through `jaxpg.envs.gymnasium_bridge`, ``"brax:<name>"`` for a Brax
            environment or ``"playground:<name>"`` for a MuJoCo Playground one (optional
            extras; see `jaxpg.envs.brax`).
        **kwargs: environment options, e.g. for GridWorld ``grid``, ``start``, ``max_steps``
            and ``observation`` (``"coordinates"`` or ``"one_hot"``); for Brax ``backend``
            (``"generalized"``, ``"positional"``, ``"spring"``, ``"mjx"``) and ``max_steps``.

    Returns:
        ``(env, env_params)`` following the gymnax 1.0 `Environment` API.

    Raises:
        ValueError: for an unknown id (the message lists the known ones) or bad options.
        ImportError: ``brax:`` or ``playground:`` without its extra installed.

    Example:
        >>> env, env_params = make_env("GridWorld-v0", start=(5, 0), max_steps=50)
        >>> env.num_actions
        5
    """
    if not isinstance(env_id, str):
        raise ValueError(f"env_id must be a string; got {env_id!r}")
    if env_id.startswith("gymnasium:"):
        from jaxpg.envs.gymnasium_bridge import make_gymnasium_env

        return make_gymnasium_env(env_id.removeprefix("gymnasium:"), **kwargs)
    if env_id.startswith(("brax:", "playground:")):
        from jaxpg.envs.brax import make_brax_env, make_playground_env

        prefix, name = env_id.split(":", 1)
        make = make_brax_env if prefix == "brax" else make_playground_env
        try:
            env = make(name, **kwargs)
        except TypeError as error:
            raise ValueError(f"bad options for {env_id}: {error}") from error
        return env, env.default_params
    if env_id in _REGISTRY:
        try:
            env = _REGISTRY[env_id](**kwargs)
        except TypeError as error:
            raise ValueError(f"bad options for {env_id}: {error}") from error
        return env, env.default_params
    if env_id in gymnax.registered_envs:
        return gymnax.make(env_id, **kwargs)
    raise ValueError(
        f"unknown env_id {env_id!r}; known ids: {', '.join(known_env_ids())}, "
        "or 'gymnasium:<id>', 'brax:<name>', 'playground:<name>'"
    )
