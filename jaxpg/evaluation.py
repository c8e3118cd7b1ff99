"""`evaluate`: undiscounted returns of complete episodes under a trained policy."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxpg import rollout as rollout_lib
from jaxpg.algorithms.base import build_policy
from jaxpg.config import BaseConfig


def evaluate(
    config: BaseConfig,
    env: Any,
    env_params: Any,
    params: Any,
    key: jax.Array,
    num_episodes: int = 100,
    greedy: bool = False,
) -> jax.Array:
    """Runs ``num_episodes`` episodes in parallel and returns their undiscounted returns.

    Each of ``num_episodes`` environments plays exactly one episode (to termination or the time
    limit ``env_params.max_steps_in_episode``) with the rollout used in training.

    Args:
        config: the config the policy was trained with (it fixes the network).
        env: the environment.
        env_params: its parameters; ``max_steps_in_episode`` must be a concrete integer.
        params: ``TrainResult.params`` (a dict with ``"policy"``) or the policy parameters.
        key: a PRNG key.
        num_episodes: number of episodes (static).
        greedy: take the most probable action (Gaussian mean) instead of sampling.

    Returns:
        ``[num_episodes]`` float32 returns.

    Raises:
        ValueError: ``params`` are not those of the policy that ``config`` builds for ``env``
            (another network size, another environment's observation or action shape).
    """
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be an integer >= 1; got {num_episodes!r}")
    policy = build_policy(config, env, env_params)
    policy_params = params["policy"] if isinstance(params, dict) and "policy" in params else params
    check_policy_params(config, env, env_params, policy, policy_params)
    try:
        horizon = int(env_params.max_steps_in_episode)
    except (TypeError, jax.errors.ConcretizationTypeError) as error:
        raise ValueError(
            "evaluate needs a concrete env_params.max_steps_in_episode (it fixes the loop "
            "length); do not trace it"
        ) from error
    reset_key, rollout_key = jax.random.split(key)
    state = rollout_lib.reset(reset_key, env, env_params, num_episodes)
    policy_fn = rollout_lib.sample_policy(policy.apply, policy_params, greedy=greedy)
    _, trajectory, _ = rollout_lib.rollout(rollout_key, env, env_params, state, policy_fn, horizon)
    done = trajectory.done
    # A step counts if no episode end came before it (the first episode only).
    ended_before = jnp.cumsum(done, axis=0) - done
    return jnp.sum(jnp.where(ended_before == 0, trajectory.reward, 0.0), axis=0)


def check_policy_params(
    config: BaseConfig, env: Any, env_params: Any, policy: Any, policy_params: Any
) -> None:
    """Raises ValueError when ``policy_params`` do not fit the policy ``config`` builds for ``env``.

    Compares the pytree structure and every leaf's shape (not values) with
    ``jax.eval_shape(policy.init, key)``, so it works on traced parameters too.
    """
    expected = jax.eval_shape(policy.init, jax.random.key(0))
    expected_leaves = dict(jax.tree_util.tree_flatten_with_path(expected)[0])
    given_leaves = dict(jax.tree_util.tree_flatten_with_path(policy_params)[0])
    problems = []
    for path in sorted(set(expected_leaves) | set(given_leaves), key=str):
        name = jax.tree_util.keystr(path)
        if path not in given_leaves:
            problems.append(f"{name} is missing")
        elif path not in expected_leaves:
            problems.append(f"{name} is not expected")
        elif jnp.shape(given_leaves[path]) != expected_leaves[path].shape:
            problems.append(
                f"{name} has shape {tuple(jnp.shape(given_leaves[path]))}, expected "
                f"{tuple(expected_leaves[path].shape)}"
            )
    if problems:
        shown = "; ".join(problems[:4]) + ("; ..." if len(problems) > 4 else "")
        raise ValueError(
            f"the parameters do not match the policy that {type(config).__name__}"
            f"(hidden_sizes={config.hidden_sizes}) builds for {getattr(env, 'name', env)}: "
            f"{shown}. Evaluate with the config and environment the parameters were trained on "
            "(a vmapped result holds one parameter set per seed: vmap evaluate over them)"
        )
