"""`make_env`: jaxpg's own environments by id, and every gymnax environment by pass-through.

Importing this module imports neither jax nor gymnax (each environment's module loads when it is
made), so `registered_envs` is cheap for ``jaxpg list``.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Sequence
from typing import Any

#: The prefixes of environments from other packages: ``"<prefix>:<id or name>"``.
PREFIXES = ("gymnasium", "brax", "playground")


def _cartpole(max_steps_in_episode: int) -> Any:
    from jaxpg.envs.cartpole import CartPole

    return CartPole(max_steps_in_episode=max_steps_in_episode)


def _gridworld(
    grid: Any = None, start: Any = None, max_steps: int = 300, observation: str = "one_hot"
) -> Any:
    from jaxpg.envs.gridworld import GridWorld

    kwargs: dict[str, Any] = {"max_steps": max_steps, "observation": observation}
    if grid is not None:
        kwargs["grid"] = grid
    if start is not None:
        kwargs["start"] = start
    return GridWorld(**kwargs)


_REGISTRY: dict[str, Callable[..., Any]] = {
    "CartPole-v1": functools.partial(_cartpole, 500),
    "CartPole-v0": functools.partial(_cartpole, 200),
    "GridWorld-v0": _gridworld,
}


def registered_envs() -> list[str]:
    """jaxpg's own environment ids (gymnax ids and ``gymnasium:<id>`` are accepted as well)."""
    return list(_REGISTRY)


def known_env_ids() -> list[str]:
    """Every id `make_env` accepts: jaxpg's, then gymnax's (``gymnasium:<id>`` besides)."""
    import gymnax

    return registered_envs() + [i for i in gymnax.registered_envs if i not in _REGISTRY]


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'X'?)`` for the choice closest to ``name`` (ignoring case), or ``""``."""
    folded = {choice.lower(): choice for choice in reversed(list(choices))}
    close = difflib.get_close_matches(name.lower(), list(folded), n=1)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


def _suggestion(env_id: str) -> str:
    """The closest known id, or for an unknown ``prefix:`` the closest prefix with the rest."""
    prefix, colon, rest = env_id.partition(":")
    if colon and prefix not in PREFIXES:
        close = difflib.get_close_matches(prefix.lower(), PREFIXES, n=1)
        if close:
            return f" (did you mean {close[0] + ':' + rest!r}?)"
    return did_you_mean(env_id, known_env_ids())


def make_env(env_id: str, **kwargs: Any) -> tuple[Any, Any]:
    """Creates an environment and its default parameters.

    Args:
        env_id: ``"CartPole-v1"``, ``"CartPole-v0"``, ``"GridWorld-v0"``, any gymnax id
            (e.g. ``"Pendulum-v1"``), ``"gymnasium:<id>"`` for a host-side gymnasium
            environment through `jaxpg.envs.gymnasium_bridge`, ``"brax:<name>"`` for a Brax
            environment or ``"playground:<name>"`` for a MuJoCo Playground one (optional
            extras; see `jaxpg.envs.brax`).
        **kwargs: environment options, e.g. for GridWorld ``grid``, ``start``, ``max_steps``
            and ``observation`` (``"one_hot"``, the default, or ``"coordinates"``); for Brax
            ``backend`` (``"generalized"``, ``"positional"``, ``"spring"``, ``"mjx"``) and
            ``max_steps``.

    Returns:
        ``(env, env_params)`` following the gymnax 1.0 `Environment` API.

    Raises:
        ValueError: for an unknown id (the message suggests the closest known id and lists
            them all) or bad options.
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
    import gymnax

    if env_id in gymnax.registered_envs:
        return gymnax.make(env_id, **kwargs)
    raise ValueError(
        f"unknown env_id {env_id!r}{_suggestion(env_id)}; known ids: "
        f"{', '.join(known_env_ids())}, "
        "or 'gymnasium:<id>', 'brax:<name>', 'playground:<name>'"
    )
