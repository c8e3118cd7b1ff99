"""Training bookkeeping, once: the guarded update and the per-iteration counters and metrics.

Both trainers (`jaxpg.train` for JAX environments, `jaxpg.host_train` for gymnasium ones) call
`learn` inside their jitted step, so the counters, the skipped-update guard and the reported
episode statistics cannot drift apart between them.

* The update is skipped (the agent kept as it was) when the batch holds a non-finite reward or
  the new parameters are not finite; ``skipped_updates`` counts it.
* ``episode_return`` / ``episode_length``: the mean over the episodes that finished during the
  iteration; carried forward from the last iteration that finished one; NaN before any episode
  has finished (never a running episode's partial return). Plots and progress bars skip NaN.
* ``env_steps``: environment steps so far, the vine's branches included (`Update.extra_env_steps`).
  The count is kept exactly in `StepCount` (two int32 words, no x64 needed, exact to 2^61);
  the metric is its float32 value (exact below 2^24 and for multiples of a power of two
  beyond; `StepCount.value` gives the exact Python integer on the host).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

#: `StepCount.low` holds the count modulo ``2**LOW_BITS``; one step adds less than that.
LOW_BITS = 30


class StepCount(NamedTuple):
    """An exact non-negative count as ``high * 2**30 + low`` in two int32 words.

    Attributes:
        high: int32, multiples of ``2**30``.
        low: int32 in ``[0, 2**30)``.
    """

    high: jax.Array
    low: jax.Array

    @classmethod
    def zero(cls) -> StepCount:
        return cls(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    def add(self, steps: Any) -> StepCount:
        """The count plus ``steps`` (an int32 scalar below ``2**30``)."""
        low = self.low + jnp.asarray(steps, jnp.int32)
        return StepCount(self.high + (low >> LOW_BITS), low & ((1 << LOW_BITS) - 1))

    def as_float(self) -> jax.Array:
        """float32 value (rounded above 2^24)."""
        return self.high.astype(jnp.float32) * float(1 << LOW_BITS) + self.low.astype(jnp.float32)

    def value(self) -> Any:
        """The exact count on the host: a Python int, or an int64 array for batched counts."""
        total = np.asarray(self.high, np.int64) * (1 << LOW_BITS) + np.asarray(self.low, np.int64)
        return int(total) if total.ndim == 0 else total


class Progress(NamedTuple):
    """The counters a training run carries between iterations.

    Attributes:
        iteration: int32, completed iterations.
        episode_return: float32, latest mean return of finished episodes (NaN before any).
        episode_length: float32, the same for lengths.
        env_steps: `StepCount`, environment steps so far.
    """

    iteration: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array
    env_steps: StepCount

    @classmethod
    def start(cls) -> Progress:
        """Before the first iteration: nothing counted, no episode finished."""
        nan = jnp.full((), jnp.nan, jnp.float32)
        return cls(jnp.zeros((), jnp.int32), nan, nan, StepCount.zero())


def all_finite(tree: Any) -> jax.Array:
    """Scalar bool: every floating-point leaf of ``tree`` is finite."""
    leaves = [
        jnp.isfinite(leaf).all()
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating)
    ]
    return jnp.stack(leaves).all() if leaves else jnp.ones((), bool)


def learn(
    algorithm: Any,
    batch_size: int,
    key: jax.Array,
    agent: Any,
    progress: Progress,
    trajectory: Any,
    stats: Any,
) -> tuple[Any, Progress, dict[str, jax.Array]]:
    """One iteration's update and bookkeeping, for both trainers.

    Args:
        algorithm: the `jaxpg.algorithms.Algorithm`.
        batch_size: environment steps of the rollout (``num_envs * num_steps``).
        key: the update's PRNG key.
        agent: the agent state before the update.
        progress: the `Progress` before this iteration.
        trajectory: the rollout's `jaxpg.rollout.Trajectory` ``[T, B, ...]``.
        stats: its `jaxpg.rollout.EpisodeStats` (finished episodes).

    Returns:
        ``(agent, progress, metrics)``: the new (or, when skipped, the old) agent, the updated
        counters and the iteration's scalar metrics.
    """
    new_agent, metrics, extra_env_steps = algorithm.update(
        key, agent, trajectory, progress.iteration
    )
    finite = jnp.isfinite(trajectory.reward).all() & all_finite(new_agent.params)
    agent = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_agent, agent)

    count = jnp.asarray(stats.count, jnp.int32)
    finished = count > 0
    denominator = jnp.maximum(count, 1).astype(jnp.float32)
    episode_return = jnp.where(
        finished, jnp.asarray(stats.return_sum, jnp.float32) / denominator, progress.episode_return
    )
    episode_length = jnp.where(
        finished, jnp.asarray(stats.length_sum, jnp.float32) / denominator, progress.episode_length
    )
    env_steps = progress.env_steps.add(batch_size + jnp.asarray(extra_env_steps, jnp.int32))
    progress = Progress(progress.iteration + 1, episode_return, episode_length, env_steps)
    metrics = {
        **metrics,
        "episode_return": episode_return,
        "episode_length": episode_length,
        "episodes_finished": count,
        "env_steps": env_steps.as_float(),
        "skipped_updates": (~finite).astype(jnp.int32),
    }
    return agent, progress, metrics
