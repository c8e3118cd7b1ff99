"""A trained policy as a plain function ``act(obs, key=None)``, for use outside jaxpg.

`load_policy` reads a ``jaxpg train`` run's checkpoint (`jaxpg.checkpoint`: msgpack, never
pickle) and returns one seed's policy; `make_act` does the same for parameters in hand (a
`jaxpg.TrainResult`'s ``params``)::

    act = jaxpg.load_policy("runs/trpo-CartPole-v1-20250101-120000")
    action = act(obs)                         # greedy: the mode of the policy's distribution
    action = act(obs, jax.random.key(0))      # sampled

The function acts with `jaxpg.evaluate`'s own acting function: the observation statistics
carried in the parameters applied frozen (`jaxpg.normalization.observe`), then the mode or a
sample of the policy's distribution (`jaxpg.rollout.sample_policy`); Box actions are clipped to
the action space's bounds as the rollout clips them (`jaxpg.rollout.env_action`; a
``tanh``-squashed policy's actions already lie within them). It is jitted once per observation
shape and dtype: the parameters are an argument, not constants compiled into the program.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxpg import evaluation
from jaxpg import rollout as rollout_lib
from jaxpg.networks import Policy

#: ``act(obs [..., *obs_shape], key=None) -> action [..., *action_shape]``.
ActFn = Callable[..., jax.Array]


def make_act(policy: Policy, params: Any, action_space: Any, obs_shape: tuple[int, ...]) -> ActFn:
    """A jitted ``act(obs, key=None)`` for one set of trained parameters.

    Args:
        policy: the trained `jaxpg.networks.Policy` (``trainer.algorithm.policy``, or
            `jaxpg.networks.default_policy` of the config and environment).
        params: the agent's parameters of one seed (a dict with ``"policy"`` and, when the run
            normalised observations, ``"obs_norm"``), or the bare policy parameters.
        action_space: the environment's action space (Box actions are clipped to it).
        obs_shape: the shape of one observation.

    Returns:
        ``act(obs, key=None)``: ``obs [..., *obs_shape]`` (one observation or any leading batch
        axes) to actions ``[...]`` int32 (Discrete) or ``[..., *action_shape]`` float32 (Box),
        as jax arrays; the mode of the distribution (argmax; the Gaussian mean, squashed or
        clipped to the bounds) without ``key``, a sample with one (a PRNG key, split by the
        caller for each call). One compile per observation shape and dtype, with or without
        a key.

    Raises:
        ValueError: (when ``act`` is called) ``obs`` does not end in ``obs_shape``.
    """
    obs_shape = tuple(obs_shape)
    if isinstance(params, dict) and "policy" in params:
        # Only what acting reads travels into the program (not the critic, not the optimiser).
        params = {name: params[name] for name in ("policy", "obs_norm") if name in params}

    def apply(params: Any, obs: jax.Array, key: Any) -> jax.Array:
        if obs.ndim < len(obs_shape) or obs.shape[obs.ndim - len(obs_shape) :] != obs_shape:
            raise ValueError(
                f"act takes observations of shape [..., {', '.join(map(str, obs_shape))}]; "
                f"got shape {tuple(obs.shape)}"
            )
        # `jaxpg.evaluate`'s acting function: observation statistics applied frozen.
        action, _ = evaluation.acting_policy(policy, params, greedy=key is None)(key, obs)
        return rollout_lib.env_action(action_space, action)

    jitted = jax.jit(apply)

    def act(obs: Any, key: Any = None) -> jax.Array:
        return jitted(params, jnp.asarray(obs), key)

    act.__doc__ = "Actions for ``obs [..., *obs_shape]``: greedy without ``key``, sampled with one."
    return act


def load_policy(
    run_dir: str | os.PathLike, seed: int | None = None, *, grid_point: int | None = None
) -> ActFn:
    """The policy of a ``jaxpg train`` run as a jitted ``act(obs, key=None)``.

    Args:
        run_dir: the run directory (or its ``checkpoint.msgpack``).
        seed: which trained seed's parameters (None: the run's first seed).
        grid_point: for a ``--sweep`` run, the index of the grid point (the ``grid_point``
            column of its ``sweep.csv``); must be None for a plain run.

    Returns:
        ``act(obs, key=None)`` (see `make_act`): actions in the run's environment's action
        space for ``obs [..., *obs_shape]``, greedy without ``key``, sampled with one. For a
        ``gymnasium:`` run the observations and actions are as jaxpg's bridge presents them
        (`jaxpg.envs.gymnasium_bridge.GymnasiumEnv.host_observation` and ``host_action``:
        Discrete observations one-hot, Discrete actions from 0).

    Raises:
        FileNotFoundError: ``run_dir`` does not exist.
        ValueError: not a jaxpg run, a seed the run did not train (the message names its
            seeds), or a missing or invalid ``grid_point`` (the message lists the grid).

    Example:
        >>> act = jaxpg.load_policy("runs/trpo-CartPole-v1-20250101-120000")
        >>> obs, info = gymnasium_env.reset(seed=0)
        >>> action = int(act(obs))
    """
    from jaxpg.cli.options import CLIError
    from jaxpg.cli.runs import load_run_checkpoint
    from jaxpg.networks import observation_shape

    path = os.fspath(run_dir)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist")
    try:
        run = load_run_checkpoint(path)
    except CLIError as error:
        raise ValueError(str(error)) from None
    try:
        member = _member(run, seed, grid_point)
        policy = run.runner.algorithm.policy
    finally:
        run.runner.close()
    params = jax.tree.map(lambda leaf: leaf[member], run.state.agent.params)
    return make_act(
        policy,
        params,
        run.env.action_space(run.env_params),
        observation_shape(run.env, run.env_params),
    )


def _member(run: Any, seed: int | None, grid_point: int | None) -> int:
    """The index of ``seed`` (at ``grid_point``) on the run's member axis."""
    seeds = list(run.seeds)
    if seed is None:
        seed = seeds[0]
    if seed not in seeds:
        raise ValueError(f"{run.out_dir} trained seed(s) {seeds}, not seed {seed!r}")
    index = seeds.index(seed)
    if run.sweep is None:
        if grid_point is not None:
            raise ValueError(f"{run.out_dir} is not a sweep; grid_point must be None")
        return index
    points = len(run.sweep.points)
    if (
        isinstance(grid_point, bool)
        or not isinstance(grid_point, int)
        or not 0 <= grid_point < points
    ):
        grid = "; ".join(f"{g}: {run.sweep.label(g)}" for g in range(points))
        raise ValueError(
            f"{run.out_dir} is a sweep; choose its grid point with grid_point= one of {grid}"
            + ("" if grid_point is None else f" (got {grid_point!r})")
        )
    return grid_point * len(seeds) + index
