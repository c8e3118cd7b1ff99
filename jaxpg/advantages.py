"""Returns and advantages over time-major batches, all as `lax.scan`s.

Every function takes arrays whose leading axis is time ``[T, ...]`` (any trailing batch shape,
typically ``[T, B]``) with the rollout's conventions (`jaxpg.rollout.Trajectory`):

* ``terminated[t]``: the episode ended in a terminal state after step ``t``; nothing follows,
  so no value is bootstrapped.
* ``truncated[t]``: the episode was cut (time limit) after step ``t``; the return continues in
  expectation, so the value of the real final observation, ``next_value[t]``, is bootstrapped.
* An episode boundary (``terminated | truncated``) stops every sum, so nothing leaks from one
  episode into the next inside a batch.
* At the last step of the batch, an episode still running is cut by the batch itself and is
  bootstrapped with ``next_value[T-1]`` as on truncation.

``next_value[t]`` is the value of ``next_obs[t]`` (the real next observation); pass zeros when
there is no critic (then truncated and batch-cut episodes keep only their observed rewards).

References: Williams 1992 (REINFORCE, return and reward-to-go weightings); Sutton 1988 (TD
errors); Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized Advantage
Estimation" (GAE); Levine 2018 (entropy-augmented rewards for maximum-entropy RL).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def _continues(terminated: jax.Array, truncated: jax.Array) -> jax.Array:
    """1.0 where the episode goes on into step t + 1 of the batch, else 0.0."""
    return 1.0 - jnp.logical_or(terminated, truncated).astype(jnp.float32)


def reward_to_go(
    reward: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    next_value: jax.Array | None = None,
    gamma: ArrayLike = 1.0,
) -> jax.Array:
    """Discounted reward-to-go ``G_t = r_t + gamma * r_{t+1} + ...`` to the episode's end.

    ``G_t = r_t + gamma * (1 - terminated_t) * (G_{t+1} if the episode continues else
    next_value_t)``, computed as a reverse `lax.scan`.

    Args:
        reward: ``[T, ...]`` rewards.
        terminated: ``[T, ...]`` bool.
        truncated: ``[T, ...]`` bool.
        next_value: ``[T, ...]`` value of the real next observation, bootstrapped on
            truncation and at the batch end; None means zeros.
        gamma: discount factor (may be traced).

    Returns:
        ``[T, ...]`` float32 reward-to-go.
    """
    reward = reward.astype(jnp.float32)
    if next_value is None:
        next_value = jnp.zeros_like(reward)
    not_terminal = 1.0 - terminated.astype(jnp.float32)
    continues = _continues(terminated, truncated)

    def body(future_return, inputs):
        r, not_term, cont, v_next = inputs
        tail = cont * future_return + (1.0 - cont) * v_next
        g = r + gamma * not_term * tail
        return g, g

    _, returns = jax.lax.scan(
        body,
        next_value[-1],
        (reward, not_terminal, continues, next_value),
        reverse=True,
    )
    return returns


def episode_returns(
    reward: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    next_value: jax.Array | None = None,
    gamma: ArrayLike = 1.0,
) -> jax.Array:
    """The discounted return of the whole episode, R(tau), given to every step of it.

    Seed 003's first weighting: every log-probability of an episode is weighted by the same
    ``R(tau) = sum_k gamma^k r_k`` summed from the episode's first step in the batch. An episode
    that began in an earlier batch counts from the batch's first step (dropping rewards earned
    before an action does not bias the gradient: they are independent of it).

    Args:
        reward, terminated, truncated, next_value, gamma: as in `reward_to_go`.

    Returns:
        ``[T, ...]`` float32; constant over each episode segment of the batch.
    """
    returns = reward_to_go(reward, terminated, truncated, next_value, gamma)
    starts = jnp.concatenate(
        [jnp.ones_like(terminated[:1], bool), jnp.logical_or(terminated, truncated)[:-1]]
    )

    def body(segment_return, inputs):
        is_start, g = inputs
        value = jnp.where(is_start, g, segment_return)
        return value, value

    _, weights = jax.lax.scan(body, returns[0], (starts, returns))
    return weights


def td_errors(
    reward: jax.Array,
    value: jax.Array,
    next_value: jax.Array,
    terminated: jax.Array,
    gamma: ArrayLike,
) -> jax.Array:
    """One-step TD errors ``delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)``.

    Truncation needs no special case: ``next_value`` is the value of the real next observation.

    Args:
        reward: ``[T, ...]``.
        value: ``[T, ...]`` value of ``obs``.
        next_value: ``[T, ...]`` value of the real ``next_obs``.
        terminated: ``[T, ...]`` bool.
        gamma: discount factor.

    Returns:
        ``[T, ...]`` float32 TD errors.
    """
    not_terminal = 1.0 - terminated.astype(jnp.float32)
    return reward.astype(jnp.float32) + gamma * not_terminal * next_value - value


def gae(
    reward: jax.Array,
    value: jax.Array,
    next_value: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: ArrayLike,
    lambda_: ArrayLike,
) -> tuple[jax.Array, jax.Array]:
    """Generalized advantage estimation, GAE(gamma, lambda), as a reverse `lax.scan`.

    ``A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}`` with ``A_T = 0``; with
    ``lambda = 0`` it is the TD error, with ``lambda = 1`` the discounted return minus ``V``.

    Args:
        reward: ``[T, ...]``.
        value: ``[T, ...]`` value of ``obs``.
        next_value: ``[T, ...]`` value of the real ``next_obs``.
        terminated: ``[T, ...]`` bool.
        truncated: ``[T, ...]`` bool.
        gamma: discount factor (may be traced).
        lambda_: GAE parameter in [0, 1] (may be traced).

    Returns:
        ``(advantages, returns)``, each ``[T, ...]``; ``returns = advantages + value`` are the
        lambda-returns, the usual value-function targets.
    """
    deltas = td_errors(reward, value, next_value, terminated, gamma)
    continues = _continues(terminated, truncated)

    def body(future_advantage, inputs):
        delta, cont = inputs
        advantage = delta + gamma * lambda_ * cont * future_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        body, jnp.zeros_like(deltas[-1]), (deltas, continues), reverse=True
    )
    return advantages, advantages + value


def soft_rewards(reward: jax.Array, log_prob: jax.Array, alpha: ArrayLike) -> jax.Array:
    """Entropy-augmented rewards ``r_t - alpha * log pi(a_t | s_t)`` (maximum-entropy RL).

    Their expected sum is the return plus ``alpha`` times the policy's entropy along the way.
    Seed 001 adds ``+alpha * log pi``, which *penalises* entropy; this is the correct sign.
    The log-probability is treated as a constant reward (no gradient flows through it).

    Args:
        reward: ``[T, ...]``.
        log_prob: ``[T, ...]`` log-probability of the action taken.
        alpha: temperature >= 0 (may be traced).

    Returns:
        ``[T, ...]`` float32.
    """
    return reward.astype(jnp.float32) - alpha * jax.lax.stop_gradient(log_prob)


def normalize(advantages: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Advantages standardised to mean 0 and standard deviation 1 over the whole batch."""
    return (advantages - advantages.mean()) / (advantages.std() + eps)
