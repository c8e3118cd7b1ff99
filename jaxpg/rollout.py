"""The one rollout: batched environments stepped under `lax.scan`, time-major trajectories.

Every algorithm in jaxpg collects experience with `rollout`. It steps ``B`` environments for
``T`` steps with a policy function and returns a `Trajectory` whose arrays are time-major
``[T, B, ...]``. Termination and truncation are kept apart, and ``next_obs`` holds the *real*
next observation (the pre-reset one when an episode ends), so that advantage estimators can
bootstrap from the value of the final observation on truncation and not on termination.

Cost notes: the keys of every step come from one split before the loop; actions for the whole
batch are drawn with one random call (not one key per environment); jaxpg environments step the
batch with one key and draw new episodes only for the environments that finished
(`jaxpg.envs.base.Environment.step_batch`); other gymnax environments get one key per
environment. Episode statistics are reduced inside the scan to three scalars per rollout, so
metrics stay small.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpg.spaces import is_box

#: ``policy_fn(key, obs [B, ...]) -> (action [B, ...], log_prob [B])``.
PolicyFn = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


class Trajectory(NamedTuple):
    """A batch of experience, time-major.

    Attributes:
        obs: ``[T, B, *obs_shape]`` observation before the action.
        action: ``[T, B, *action_shape]`` the action taken (unclipped, as sampled).
        reward: ``[T, B]`` float32.
        terminated: ``[T, B]`` bool: the episode ended in a terminal state (no bootstrap).
        truncated: ``[T, B]`` bool: the episode was cut by the time limit (bootstrap).
        log_prob: ``[T, B]`` log-probability of the action under the behaviour policy.
        next_obs: ``[T, B, *obs_shape]`` the real next observation; on an episode end it is
            the final observation, not the reset one.
        env_state: the environment state before the action (leaves ``[T, B, ...]``), recorded
            only when asked for (vine sampling branches from it); otherwise None.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    log_prob: jax.Array
    next_obs: jax.Array
    env_state: Any = None

    @property
    def done(self) -> jax.Array:
        """``[T, B]`` bool: an episode ended at this step (terminated or truncated)."""
        return jnp.logical_or(self.terminated, self.truncated)


class RolloutState(NamedTuple):
    """What carries over between rollouts: env states and running episode accumulators.

    Attributes:
        obs: ``[B, *obs_shape]`` current observations.
        env_state: the batched environment state (leaves ``[B, ...]``).
        episode_return: ``[B]`` undiscounted return of the running episodes so far.
        episode_length: ``[B]`` int32 length of the running episodes so far.
    """

    obs: jax.Array
    env_state: Any
    episode_return: jax.Array
    episode_length: jax.Array


class EpisodeStats(NamedTuple):
    """Episodes that finished during one rollout, reduced to scalars.

    Attributes:
        return_sum: sum of the undiscounted returns of the finished episodes.
        length_sum: sum of their lengths.
        count: how many finished.
    """

    return_sum: jax.Array
    length_sum: jax.Array
    count: jax.Array


def reset(key: jax.Array, env: Any, env_params: Any, num_envs: int) -> RolloutState:
    """Resets ``num_envs`` environments.

    Args:
        key: a PRNG key.
        env: a gymnax-API environment.
        env_params: its parameters (shared by all environments).
        num_envs: batch size ``B``.

    Returns:
        A `RolloutState` with leaves batched over ``[B]``.
    """
    if hasattr(env, "reset_batch"):  # jaxpg environments (`jaxpg.envs.base.Environment`)
        obs, env_state = env.reset_batch(key, num_envs, env_params)
    else:
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key, num_envs), env_params
        )
    return RolloutState(
        obs=obs,
        env_state=env_state,
        episode_return=jnp.zeros(num_envs, jnp.float32),
        episode_length=jnp.zeros(num_envs, jnp.int32),
    )


def env_action(action_space: Any, action: jax.Array) -> jax.Array:
    """The action passed to the environment: Box actions are clipped to the space's bounds."""
    if is_box(action_space):
        return jnp.clip(action, action_space.low, action_space.high)
    return action


def step_envs(
    key: jax.Array, env: Any, env_params: Any, env_state: Any, action: jax.Array
) -> tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Steps a batch of environments once.

    Args:
        key: a PRNG key: given whole to a jaxpg environment's `step_batch`, split into one
            key per environment for other gymnax environments (those without
            ``step_batch``).
        env: a gymnax-API environment.
        env_params: its parameters.
        env_state: batched state, leaves ``[B, ...]``.
        action: ``[B, *action_shape]`` actions (already clipped for Box spaces).

    Returns:
        ``(obs, env_state, reward, terminated, truncated, final_obs)``, each batched over ``[B]``;
        ``obs`` is the post-reset observation, ``final_obs`` the real next one.
    """
    if hasattr(env, "step_batch"):
        obs, env_state, reward, terminated, truncated, info = env.step_batch(
            key, env_state, action, env_params
        )
    else:
        obs, env_state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(key, action.shape[0]), env_state, action, env_params)
    return (
        obs,
        env_state,
        reward.astype(jnp.float32),
        jnp.asarray(terminated, bool),
        jnp.asarray(truncated, bool),
        info["final_observation"],
    )


def rollout(
    key: jax.Array,
    env: Any,
    env_params: Any,
    state: RolloutState,
    policy_fn: PolicyFn,
    num_steps: int,
    unroll: int = 1,
    record_env_states: bool = False,
) -> tuple[RolloutState, Trajectory, EpisodeStats]:
    """Collects ``num_steps`` steps from every environment of the batch.

    Args:
        key: a PRNG key.
        env: a gymnax-API environment.
        env_params: its parameters.
        state: the `RolloutState` to continue from (from `reset` or a previous rollout).
        policy_fn: ``(key, obs [B, ...]) -> (action [B, ...], log_prob [B])``.
        num_steps: rollout length ``T`` (static).
        unroll: `lax.scan` unroll factor (static); larger values trade compile time for
            less loop overhead with few environments.
        record_env_states: also return the environment state of every step (static).

    Returns:
        ``(state, trajectory, stats)``: the state to continue from, a time-major `Trajectory`
        ``[T, B, ...]`` and the `EpisodeStats` of the episodes that finished.
    """
    action_space = env.action_space(env_params)

    def body(carry, step_keys):
        state, stats = carry
        action_key, env_key = step_keys
        action, log_prob = policy_fn(action_key, state.obs)
        obs, env_state, reward, terminated, truncated, final_obs = step_envs(
            env_key, env, env_params, state.env_state, env_action(action_space, action)
        )
        done = jnp.logical_or(terminated, truncated)
        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        stats = EpisodeStats(
            return_sum=stats.return_sum + jnp.sum(jnp.where(done, episode_return, 0.0)),
            length_sum=stats.length_sum
            + jnp.sum(jnp.where(done, episode_length, 0), dtype=jnp.int32),
            count=stats.count + jnp.sum(done, dtype=jnp.int32),
        )
        transition = Trajectory(
            obs=state.obs,
            action=action,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            log_prob=log_prob,
            next_obs=final_obs,
            env_state=state.env_state if record_env_states else None,
        )
        state = RolloutState(
            obs=obs,
            env_state=env_state,
            episode_return=jnp.where(done, 0.0, episode_return),
            episode_length=jnp.where(done, 0, episode_length),
        )
        return (state, stats), transition

    zero = jnp.zeros((), jnp.float32)
    stats = EpisodeStats(zero, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    # Every step's two keys (the policy's, the environments') come from one split before the
    # loop: one threefry hash for the rollout instead of one more per step in the loop body.
    (state, stats), trajectory = jax.lax.scan(
        body, (state, stats), jax.random.split(key, (num_steps, 2)), unroll=unroll
    )
    return state, trajectory, stats


def sample_policy(
    policy_apply: Callable[[Any, jax.Array], Any], params: Any, greedy: Any = False
) -> PolicyFn:
    """A `PolicyFn` that samples (or, with ``greedy``, takes the mode of) a policy network.

    ``greedy``: a bool for the whole batch, or a ``[B]`` boolean array choosing per
    environment (one rollout that plays sampled and greedy episodes side by side).
    """

    def policy_fn(key: jax.Array, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        dist = policy_apply(params, obs)
        if isinstance(greedy, bool):
            action = dist.mode() if greedy else dist.sample(key)
        else:
            sample, mode = dist.sample(key), dist.mode()
            mask = jnp.reshape(jnp.asarray(greedy), (-1,) + (1,) * (sample.ndim - 1))
            action = jnp.where(mask, mode, sample)
        return action, dist.log_prob(action)

    return policy_fn
