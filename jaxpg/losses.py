"""Policy-gradient and value losses shared by the algorithms (all return scalars to minimise).

Shapes: every argument is a batch of per-sample values with any common shape (typically the
rollout's ``[T, B]``); the losses average over all of it.

References: Williams 1992 (REINFORCE); Schulman et al. 2015 (TRPO's importance-sampled
surrogate); Schulman et al. 2017 (PPO's clipped surrogate).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def policy_gradient_loss(log_prob: jax.Array, advantages: jax.Array) -> jax.Array:
    """``-mean(log pi(a|s) * A)``: its gradient is the REINFORCE policy gradient.

    Args:
        log_prob: log-probabilities of the actions taken, differentiable in the parameters.
        advantages: weights (returns or advantages); treated as constants.
    """
    return -jnp.mean(log_prob * jax.lax.stop_gradient(advantages))


def surrogate_loss(
    log_prob: jax.Array, old_log_prob: jax.Array, advantages: jax.Array
) -> jax.Array:
    """``-mean(pi(a|s) / pi_old(a|s) * A)``: TRPO's importance-sampled surrogate, negated.

    At ``pi == pi_old`` its gradient equals `policy_gradient_loss`'s.
    """
    ratio = jnp.exp(log_prob - jax.lax.stop_gradient(old_log_prob))
    return -jnp.mean(ratio * jax.lax.stop_gradient(advantages))


def clipped_surrogate_loss(
    log_prob: jax.Array, old_log_prob: jax.Array, advantages: jax.Array, clip_eps: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """PPO's clipped surrogate, negated, and the fraction of samples where the clip is active.

    ``-mean(min(rho * A, clip(rho, 1 - eps, 1 + eps) * A))`` with ``rho = pi / pi_old``.
    """
    ratio = jnp.exp(log_prob - jax.lax.stop_gradient(old_log_prob))
    advantages = jax.lax.stop_gradient(advantages)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    clip_fraction = jnp.mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32))
    return -jnp.mean(jnp.minimum(unclipped, clipped)), clip_fraction


def value_loss(
    value: jax.Array,
    targets: jax.Array,
    old_value: jax.Array | None = None,
    clip_eps: ArrayLike | None = None,
) -> jax.Array:
    """``mean((V - target)^2) / 2``, optionally PPO-style clipped around ``old_value``."""
    targets = jax.lax.stop_gradient(targets)
    squared = jnp.square(value - targets)
    if old_value is not None and clip_eps is not None:
        old_value = jax.lax.stop_gradient(old_value)
        clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
        squared = jnp.maximum(squared, jnp.square(clipped - targets))
    return 0.5 * jnp.mean(squared)
