"""`make_train`: a whole training run as one pure function of a key.

``train = make_train(config, env, env_params)`` returns ``train(key) -> TrainResult``; jit it
once at the top, and vmap it over keys (seeds) or over traced hyperparameters::

    result = jax.jit(train)(jax.random.key(0))
    results = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 8))

Inside, a `lax.scan` over iterations alternates the one rollout (`jaxpg.rollout`) with the
algorithm's update rule (`jaxpg.algorithms`). For chunked training (progress bars, checkpoints,
resume) use `make_trainer`: ``trainer.init(key)`` and ``trainer.run(state, n)``; running N
iterations and then N more gives exactly the result of 2N in one go, because all randomness
comes from the key carried in the `TrainState`.

Many devices: pass ``mesh=jaxpg.data_parallel_mesh()`` and the environments are split across
the mesh's devices (see `jaxpg.parallel`); without a mesh nothing changes.

Numerical safety: an update whose batch holds a non-finite reward, or that produces
non-finite parameters, is skipped (the agent is kept as it was) and counted in the
``skipped_updates`` metric; nothing silently turns into NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpg import parallel
from jaxpg import rollout as rollout_lib
from jaxpg.algorithms.base import Algorithm
from jaxpg.config import BaseConfig


class TrainState(NamedTuple):
    """Everything a training run carries from one iteration to the next.

    Attributes:
        agent: the algorithm's state (``agent.params`` holds the networks' parameters).
        rollout: environment states and running episode accumulators.
        key: the PRNG key for the remaining iterations.
        iteration: int32 number of completed iterations.
        last_episode_return: the latest mean return of finished episodes (carried forward).
        last_episode_length: the same for lengths.
        any_finished: bool, whether any episode has finished yet.
        env_steps: int32 environment steps so far (vine branches included).
    """

    agent: Any
    rollout: rollout_lib.RolloutState
    key: jax.Array
    iteration: jax.Array
    last_episode_return: jax.Array
    last_episode_length: jax.Array
    any_finished: jax.Array
    env_steps: jax.Array

    @classmethod
    def start(cls, agent: Any, rollout: rollout_lib.RolloutState, key: jax.Array) -> TrainState:
        """The state before the first iteration: counters at zero, no episode finished."""
        return cls(
            agent=agent,
            rollout=rollout,
            key=key,
            iteration=jnp.zeros((), jnp.int32),
            last_episode_return=jnp.zeros((), jnp.float32),
            last_episode_length=jnp.zeros((), jnp.float32),
            any_finished=jnp.zeros((), bool),
            env_steps=jnp.zeros((), jnp.int32),
        )


class TrainResult(NamedTuple):
    """Result of `train`.

    Attributes:
        metrics: dict of ``[num_iterations]`` arrays: ``episode_return``, ``episode_length``,
            ``env_steps`` (cumulative), ``skipped_updates`` and the algorithm's own (losses,
            entropy, KL, ...).
        state: the final `TrainState` (to continue training or checkpoint).
        params: (property) dict of parameter pytrees, ``"policy"`` and, where there is one,
            ``"value"``; the same arrays as ``state.agent.params``.
    """

    metrics: dict[str, jax.Array]
    state: TrainState

    # A property rather than a field: returning the same buffers twice from one jitted
    # computation can deadlock XLA:CPU's runtime (seen with jaxlib 0.10 on long vmapped runs).
    @property
    def params(self) -> Any:
        return self.state.agent.params


class Trainer(NamedTuple):
    """``init(key) -> TrainState`` and ``run(state, num_iterations) -> (state, metrics)``."""

    init: Callable[[jax.Array], TrainState]
    run: Callable[[TrainState, int], tuple[TrainState, dict[str, jax.Array]]]
    algorithm: Algorithm
    config: BaseConfig


def check_compatible(config: BaseConfig, env: Any, env_params: Any) -> None:
    """Raises ValueError when the environment cannot be trained with this config."""
    from gymnax.environments import spaces

    action_space = env.action_space(env_params)
    if not isinstance(action_space, spaces.Discrete | spaces.Box):
        raise ValueError(
            f"{getattr(env, 'name', env)} has a {type(action_space).__name__} action space; "
            "jaxpg supports Discrete and Box action spaces"
        )


def make_trainer(
    config: BaseConfig,
    env: Any,
    env_params: Any,
    *,
    mesh: jax.sharding.Mesh | None = None,
    axis_name: str = parallel.BATCH_AXIS,
) -> Trainer:
    """Builds the chunkable trainer (see the module docstring).

    Args:
        config: an algorithm config (`VPGConfig`, `ActorCriticConfig`, `TRPOConfig`,
            `PPOConfig`); validated here, before tracing.
        env: a gymnax-API environment.
        env_params: its parameters.
        mesh: a `jax.sharding.Mesh` to train data-parallel on (`jaxpg.data_parallel_mesh`):
            the ``config.num_envs`` environments are split along ``axis_name``, which must
            divide them; parameters are replicated. None: no sharding constraints at all.
        axis_name: the mesh axis to split the environments along.

    Returns:
        A `Trainer`.
    """
    config.validate()
    check_compatible(config, env, env_params)
    if mesh is not None:
        parallel.check_mesh(mesh, config.num_envs, axis_name)
    algorithm = config.make_algorithm(env, env_params)

    def constrain(tree: Any, batch_dim: int | None) -> Any:
        """Pins ``tree`` to the mesh: split along ``batch_dim``, or replicated when None."""
        if mesh is None:
            return tree
        if batch_dim is None:
            return parallel.replicate(tree, mesh)
        return parallel.shard_batch(tree, mesh, axis_name, batch_dim)

    def init(key: jax.Array) -> TrainState:
        agent_key, reset_key, key = jax.random.split(key, 3)
        rollout_state = rollout_lib.reset(reset_key, env, env_params, config.num_envs)
        return TrainState.start(
            constrain(algorithm.init(agent_key), None), constrain(rollout_state, 0), key
        )

    def iteration(state: TrainState, _: Any) -> tuple[TrainState, dict[str, jax.Array]]:
        key, rollout_key, update_key = jax.random.split(state.key, 3)
        policy_fn = algorithm.behaviour(state.agent, state.iteration)
        rollout_state, trajectory, stats = rollout_lib.rollout(
            rollout_key,
            env,
            env_params,
            constrain(state.rollout, 0),
            policy_fn,
            config.num_steps,
            record_env_states=algorithm.needs_env_states,
        )
        rollout_state, trajectory = constrain(rollout_state, 0), constrain(trajectory, 1)
        agent, metrics = algorithm.update(update_key, state.agent, trajectory, state.iteration)
        finite = jnp.isfinite(trajectory.reward).all() & all_finite(agent.params)
        agent = jax.tree.map(lambda new, old: jnp.where(finite, new, old), agent, state.agent)
        agent = constrain(agent, None)

        finished = stats.count > 0
        count = jnp.maximum(stats.count, 1).astype(jnp.float32)
        # Before any episode has finished, report the running episodes' partial returns.
        fallback_return = jnp.where(
            state.any_finished,
            state.last_episode_return,
            rollout_state.episode_return.mean(),
        )
        fallback_length = jnp.where(
            state.any_finished,
            state.last_episode_length,
            rollout_state.episode_length.mean().astype(jnp.float32),
        )
        episode_return = jnp.where(finished, stats.return_sum / count, fallback_return)
        episode_length = jnp.where(finished, stats.length_sum / count, fallback_length)
        iteration_number = state.iteration + 1
        env_steps = state.env_steps + config.batch_size + metrics.pop("vine_env_steps", 0)
        metrics = {
            **metrics,
            "episode_return": episode_return,
            "episode_length": episode_length,
            "episodes_finished": stats.count,
            "env_steps": env_steps,
            "skipped_updates": (~finite).astype(jnp.int32),
        }
        new_state = TrainState(
            agent=agent,
            rollout=rollout_state,
            key=key,
            iteration=iteration_number,
            last_episode_return=episode_return,
            last_episode_length=episode_length,
            any_finished=state.any_finished | finished,
            env_steps=env_steps,
        )
        return new_state, metrics

    def run(state: TrainState, num_iterations: int) -> tuple[TrainState, dict[str, jax.Array]]:
        return jax.lax.scan(iteration, state, None, num_iterations)

    return Trainer(init=init, run=run, algorithm=algorithm, config=config)


def make_train(
    config: BaseConfig,
    env: Any,
    env_params: Any,
    *,
    mesh: jax.sharding.Mesh | None = None,
    axis_name: str = parallel.BATCH_AXIS,
) -> Callable[[jax.Array], TrainResult]:
    """Returns the pure ``train(key) -> TrainResult`` for a config and an environment.

    Args:
        config: an algorithm config; validated here, before tracing (traced fields in a sweep
            are skipped).
        env: a gymnax-API environment (`jaxpg.make_env` or `gymnax.make`).
        env_params: its parameters.
        mesh: train data-parallel on this `jax.sharding.Mesh` (see `make_trainer` and
            `jaxpg.parallel`); None (the default) trains on one device.
        axis_name: the mesh axis to split the ``config.num_envs`` environments along.

    Returns:
        ``train(key)``, to be jitted (and vmapped) by the caller.

    Example:
        >>> env, env_params = jaxpg.make_env("CartPole-v1")
        >>> train = jaxpg.make_train(jaxpg.VPGConfig(total_timesteps=10_000), env, env_params)
        >>> result = jax.jit(train)(jax.random.key(0))
        >>> result.metrics["episode_return"].shape
        (2,)
    """
    trainer = make_trainer(config, env, env_params, mesh=mesh, axis_name=axis_name)

    def train(key: jax.Array) -> TrainResult:
        state, metrics = trainer.run(trainer.init(key), config.num_iterations)
        return TrainResult(metrics=metrics, state=state)

    return train


def all_finite(tree: Any) -> jax.Array:
    """Scalar bool: every floating-point leaf of ``tree`` is finite."""
    leaves = [
        jnp.isfinite(leaf).all()
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating)
    ]
    return jnp.stack(leaves).all() if leaves else jnp.ones((), bool)
