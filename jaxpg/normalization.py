"""Running observation normalisation and reward scaling, carried in the agent's parameters.

Continuous control needs both (Engstrom et al. 2020, "Implementation Matters in Deep Policy
Gradients"; Andrychowicz et al. 2021, "What Matters in On-Policy RL"): locomotion observations
mix positions, velocities and contact forces on scales that differ by orders of magnitude, and
rewards of several per step make returns of thousands.

* `RunningMeanStd`: mean and variance over every sample seen, merged batch by batch with the
  parallel algorithm of Chan, Golub and LeVeque (1979), which is numerically sound where the
  naive sum-of-squares update is not (large counts, large means).
* `ObservationNormalizer`: ``clip((obs - mean) / sqrt(var + eps), -clip, clip)`` per feature.
* `RewardScaler`: rewards divided by the running standard deviation of the discounted return
  (the "reward scaling" of Engstrom et al. and of SB3's ``VecNormalize``), not re-centred.

`with_normalization` adds both to any `jaxpg.algorithms.Algorithm` without touching its update
rule: the statistics live in ``agent.params["obs_norm"]`` and ``agent.params["reward_norm"]``,
so they are vmapped over seeds with everything else, saved in checkpoints and restored on
resume, and travel with ``TrainResult.params`` into `jaxpg.evaluate`, which applies them frozen
(`observe`). Each iteration

1. collects the rollout with observations normalised by the current statistics;
2. normalises the trajectory with *those same* statistics (so the update sees exactly what
   the behaviour policy saw: ratios and KLs are not disturbed by the statistics moving) and
   scales its rewards;
3. runs the algorithm's update, then merges the batch's raw observations into the statistics.

When the environments are sharded over devices (`jaxpg.parallel`), the batch moments are
means over the sharded environment axis inside one jitted program, which XLA reduces across
devices: every device keeps the same statistics.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

#: Added to the variance before the square root.
EPSILON = 1e-8


class RunningMeanStd(NamedTuple):
    """Mean and (population) variance of every sample merged so far.

    Attributes:
        mean: ``[*shape]`` float32.
        var: ``[*shape]`` float32 (1 before any sample).
        count: float32 scalar, samples merged.
    """

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def zeros(cls, shape: tuple[int, ...] = ()) -> RunningMeanStd:
        """No sample yet: mean 0, variance 1."""
        return cls(
            jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.zeros((), jnp.float32)
        )

    def update(self, batch: jax.Array) -> RunningMeanStd:
        """Merges ``batch [..., *shape]`` (every leading axis is a sample axis)."""
        batch = jnp.asarray(batch, jnp.float32)
        axes = tuple(range(batch.ndim - self.mean.ndim))
        n = jnp.asarray(batch.size // max(self.mean.size, 1), jnp.float32)
        batch_mean = batch.mean(axis=axes)
        batch_var = jnp.square(batch - batch_mean).mean(axis=axes)
        total = self.count + n
        delta = batch_mean - self.mean
        mean = self.mean + delta * (n / total)
        # Chan et al.: M2 = M2_a + M2_b + delta^2 * n_a * n_b / n; var = M2 / n.
        m2 = self.var * self.count + batch_var * n + jnp.square(delta) * (self.count * n / total)
        return RunningMeanStd(mean, m2 / total, total)

    @property
    def std(self) -> jax.Array:
        return jnp.sqrt(self.var + EPSILON)


class ObservationNormalizer(NamedTuple):
    """Running statistics of observations and the clip applied after normalising.

    Attributes:
        stats: `RunningMeanStd` over one observation's shape.
        clip: float32 scalar; normalised values are clipped to ``[-clip, clip]``.
    """

    stats: RunningMeanStd
    clip: jax.Array

    @classmethod
    def create(cls, obs_shape: tuple[int, ...], clip: Any = 10.0) -> ObservationNormalizer:
        return cls(RunningMeanStd.zeros(tuple(obs_shape)), jnp.asarray(clip, jnp.float32))

    def __call__(self, obs: jax.Array) -> jax.Array:
        """``obs [..., *obs_shape]`` normalised (float32); unchanged before the first merge."""
        obs = jnp.asarray(obs, jnp.float32)
        normalised = jnp.clip((obs - self.stats.mean) / self.stats.std, -self.clip, self.clip)
        return jnp.where(self.stats.count > 0, normalised, obs)

    def update(self, obs: jax.Array) -> ObservationNormalizer:
        return self._replace(stats=self.stats.update(obs))


class RewardScaler(NamedTuple):
    """Running statistics of the discounted return, per environment, to scale rewards by.

    Attributes:
        returns: ``[num_envs]`` float32, each environment's running discounted return (reset
            where an episode ends).
        stats: scalar `RunningMeanStd` of those returns.
        clip: float32 scalar; scaled rewards are clipped to ``[-clip, clip]``.
    """

    returns: jax.Array
    stats: RunningMeanStd
    clip: jax.Array

    @classmethod
    def create(cls, num_envs: int, clip: Any = 10.0) -> RewardScaler:
        return cls(
            jnp.zeros((num_envs,), jnp.float32),
            RunningMeanStd.zeros(),
            jnp.asarray(clip, jnp.float32),
        )

    def scale(
        self, reward: jax.Array, done: jax.Array, gamma: Any
    ) -> tuple[jax.Array, RewardScaler]:
        """Scales a time-major batch ``reward [T, B]`` (``done [T, B]``: episode ends).

        Returns:
            ``(scaled reward [T, B], updated scaler)``: the statistics merge the batch's
            discounted returns first, then every reward is divided by their standard deviation.
        """

        def step(running, inputs):
            reward_t, done_t = inputs
            running = running * gamma + reward_t
            return jnp.where(done_t, 0.0, running), running

        returns, seen = jax.lax.scan(
            step, self.returns, (jnp.asarray(reward, jnp.float32), done.astype(bool))
        )
        stats = self.stats.update(seen)
        scaled = jnp.clip(reward / stats.std, -self.clip, self.clip)
        return scaled, RewardScaler(returns, stats, self.clip)


def observe(params: Any, obs: jax.Array) -> jax.Array:
    """``obs`` as the networks see it: normalised when ``params`` (an agent's parameter dict)
    carries an ``"obs_norm"`` `ObservationNormalizer`, unchanged otherwise. Frozen: nothing is
    updated (evaluation, vine branches, a loaded policy)."""
    if isinstance(params, dict) and "obs_norm" in params:
        return params["obs_norm"](obs)
    return obs


def scale_reward(params: Any, reward: jax.Array) -> jax.Array:
    """``reward`` scaled as the update sees it when ``params`` carries a ``"reward_norm"``
    `RewardScaler` (frozen: the statistics are not updated), unchanged otherwise."""
    if isinstance(params, dict) and "reward_norm" in params:
        scaler = params["reward_norm"]
        return jnp.clip(reward / scaler.stats.std, -scaler.clip, scaler.clip)
    return reward


def with_normalization(
    algorithm: Any,
    obs_shape: tuple[int, ...],
    num_envs: int,
    *,
    observations: bool,
    rewards: bool,
    gamma: Any,
    obs_clip: Any = 10.0,
    reward_clip: Any = 10.0,
) -> Any:
    """``algorithm`` with running observation normalisation and/or reward scaling (see the
    module docstring); ``algorithm`` itself when both are off.

    Args:
        algorithm: a `jaxpg.algorithms.Algorithm` whose agent state is a NamedTuple with a
            ``params`` dict (every jaxpg algorithm's is).
        obs_shape: the shape of one observation.
        num_envs: environments per rollout (the reward scaler's running returns).
        observations: normalise observations.
        rewards: scale rewards.
        gamma: the discount of the return whose spread scales the rewards.
        obs_clip: clip of normalised observations.
        reward_clip: clip of scaled rewards.
    """
    if not (observations or rewards):
        return algorithm
    from jaxpg.algorithms.base import Update

    def init(key: jax.Array) -> Any:
        agent = algorithm.init(key)
        params = dict(agent.params)
        if observations:
            params["obs_norm"] = ObservationNormalizer.create(obs_shape, obs_clip)
        if rewards:
            params["reward_norm"] = RewardScaler.create(num_envs, reward_clip)
        return agent._replace(params=params)

    def behaviour(agent: Any, iteration: jax.Array) -> Any:
        policy_fn = algorithm.behaviour(agent, iteration)

        def normalised_policy_fn(key: jax.Array, obs: jax.Array) -> Any:
            return policy_fn(key, observe(agent.params, obs))

        return normalised_policy_fn

    def update(key: jax.Array, agent: Any, trajectory: Any, iteration: jax.Array) -> Any:
        params = dict(agent.params)
        seen = trajectory
        if observations:
            seen = seen._replace(
                obs=params["obs_norm"](trajectory.obs),
                next_obs=params["obs_norm"](trajectory.next_obs),
            )
            params["obs_norm"] = params["obs_norm"].update(trajectory.obs)
        if rewards:
            scaled, params["reward_norm"] = params["reward_norm"].scale(
                trajectory.reward, trajectory.done, gamma
            )
            seen = seen._replace(reward=scaled)
        # The update sees the observation statistics of the rollout and the reward scaler that
        # scaled this batch (the vine's branches read both).
        inner = dict(agent.params)
        if rewards:
            inner["reward_norm"] = params["reward_norm"]
        result = algorithm.update(key, agent._replace(params=inner), seen, iteration)
        new_params = dict(result.agent.params)
        for name in ("obs_norm", "reward_norm"):
            if name in params:
                new_params[name] = params[name]
        return Update(
            result.agent._replace(params=new_params), result.metrics, result.extra_env_steps
        )

    return algorithm._replace(init=init, behaviour=behaviour, update=update)
