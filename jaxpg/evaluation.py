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
    """
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be an integer >= 1; got {num_episodes!r}")
    policy = build_policy(config, env, env_params)
    policy_params = params["policy"] if isinstance(params, dict) and "policy" in params else params
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
