"""Training and evaluation on host-side gymnasium environments, with the same jitted updates.

For environments with no JAX version (``jaxpg.make_env("gymnasium:LunarLander-v3")``, see
`jaxpg.envs.gymnasium_bridge`), the rollout cannot be a `lax.scan`. `make_host_trainer` keeps
everything else of `jaxpg.train`: the algorithm comes from ``config.make_algorithm(env,
env_params)``, its ``update`` is jitted once, and each iteration

1. steps a gymnasium vector environment of ``num_envs`` copies ``num_steps`` times on the host,
   with one jitted policy call per step for the whole batch (the algorithm's ``behaviour``
   policy; numpy in between, no Python loop over environments);
2. builds the same time-major `jaxpg.rollout.Trajectory` ``[T, B, ...]`` as the JAX rollout:
   ``terminated`` and ``truncated`` kept apart, ``next_obs`` the real final observation where an
   episode ended (gymnasium's ``info["final_obs"]``, same-step auto-reset), ``log_prob`` from
   the behaviour policy;
3. calls `jaxpg.bookkeeping.learn` jitted, the same guarded update and counters as `jaxpg.train`.

The metrics are therefore `jaxpg.train`'s, and `train_host` returns a `jaxpg.TrainResult`.
Runs are reproducible: actions come from the JAX key, and the vector environment is reset with
``seed`` derived from it (gymnasium seeds copy ``i`` with ``seed + i``). `HostTrainer.timings`
says where the time went (host environment stepping, policy calls, updates).

    >>> env, env_params = jaxpg.make_env("gymnasium:CartPole-v1")
    >>> config = jaxpg.TRPOConfig(total_timesteps=20_000)
    >>> result = train_host(config, env, env_params, jax.random.key(0))
    >>> result.metrics["episode_return"].shape
    (19,)
    >>> returns = jaxpg.evaluate(config, env, env_params, result.params, jax.random.key(1), 20)

On CPU, turning off JAX's asynchronous dispatch before the first computation
(``jax.config.update("jax_cpu_enable_async_dispatch", False)``) runs each per-step policy call
on the calling thread and lowered the policy time by 10-27% in our measurements; it is a
process-wide setting, so jaxpg leaves it to the caller (the LunarLander benchmark sets it).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpg.bookkeeping import learn
from jaxpg.config import BaseConfig
from jaxpg.networks import Critic, Policy
from jaxpg.rollout import EpisodeStats, RolloutState, Trajectory
from jaxpg.train import (
    TrainResult,
    TrainState,
    batched_template,
    check_environment,
    init_keys,
    iteration_keys,
)

#: ``callback(iteration, metrics)`` after every iteration; ``iteration`` counts from 1 and
#: ``metrics`` maps names to numpy scalars.
Callback = Callable[[int, dict[str, np.ndarray]], None]


class HostTrainer:
    """A host-side trainer: ``init(key) -> TrainState``, ``run(state, n) -> (state, metrics)``.

    It owns a gymnasium vector environment (close it with `close`, or use ``with``). The
    environment's episodes continue across `run` calls when ``state`` is the latest state this
    trainer returned; for any other state (e.g. one loaded from a checkpoint) they restart from
    a reset seeded by ``state.key``, the agent and counters continuing from ``state``.

    Attributes:
        algorithm: the `jaxpg.algorithms.Algorithm` (the same update rule as the JAX path).
        config: the config.
        vector_env: the `gymnasium.vector.SyncVectorEnv`.
        timings: cumulative wall-clock seconds: ``"env"`` (stepping the vector environment and
            the numpy bookkeeping), ``"policy"`` (the jitted per-step policy calls),
            ``"update"`` (the jitted updates, their compilation included).
    """

    def __init__(
        self,
        config: BaseConfig,
        env: Any,
        env_params: Any,
        *,
        policy: Policy | None = None,
        critic: Critic | None = None,
    ) -> None:
        if not getattr(env, "RUNS_ON_HOST", False):
            raise ValueError(
                f"{getattr(env, 'name', env)} is a JAX environment; train it with "
                "jaxpg.make_train (host training is for make_env('gymnasium:<id>'))"
            )
        config.validate()
        check_environment(env, env_params)
        if config.eval_every:
            from jaxpg.evaluation import eval_horizon

            eval_horizon(config, env, env_params)  # a clear error now, not at the first one
        self.config = config
        self.env = env
        self.env_params = env_params
        self.algorithm = config.make_algorithm(env, env_params, policy=policy, critic=critic)
        self.vector_env = env.make_vector_env(config.num_envs)
        self.timings = {"env": 0.0, "policy": 0.0, "update": 0.0}
        self._act = jax.jit(self._act_impl)
        self._learn = jax.jit(self._learn_impl)
        self._iteration_keys = jax.jit(iteration_keys)
        self._metric_names: list[str] = []
        self._metric_dtypes: list[np.dtype] = []
        self._last_state: TrainState | None = None
        self._obs = np.zeros(0)
        self._episode_return = np.zeros(config.num_envs, np.float32)
        self._episode_length = np.zeros(config.num_envs, np.int32)

    def _act_impl(self, agent, iteration, key, obs):
        key, action_key = jax.random.split(key)
        action, log_prob = self.algorithm.behaviour(agent, iteration)(action_key, obs)
        return key, action, log_prob

    def _learn_impl(self, agent, progress, key, trajectory, stats):
        agent, progress, metrics = learn(
            self.algorithm, self.config.batch_size, key, agent, progress, trajectory, stats
        )
        names = sorted(metrics)
        # Recorded while tracing (once): how to unpack the vector on the host. In place, so
        # that the trainers made by `fork` (which share this compiled function) see it.
        self._metric_names[:] = names
        self._metric_dtypes[:] = [np.dtype(jnp.asarray(metrics[name]).dtype) for name in names]
        # One float32 vector instead of a dict: two metrics that XLA computes as the same
        # buffer would be returned twice, which can deadlock XLA:CPU.
        packed = jnp.stack([jnp.asarray(metrics[name], jnp.float32) for name in names])
        return agent, progress, packed

    def _reset_envs(self, key: jax.Array) -> None:
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        obs, _ = self.vector_env.reset(seed=seed)
        self._obs = self.env.host_observation(obs)
        self._episode_return = np.zeros(self.config.num_envs, np.float32)
        self._episode_length = np.zeros(self.config.num_envs, np.int32)

    def init(self, key: jax.Array) -> TrainState:
        """Initialises the agent and resets the vector environment (seeded from ``key``)."""
        agent_key, reset_key, key = init_keys(key)
        # Eager, not jitted: a jitted init may hand back one buffer for two equal leaves
        # (e.g. Adam's zero moments), which XLA:CPU can deadlock on later.
        agent = self.algorithm.init(agent_key)
        self._reset_envs(reset_key)
        state = TrainState.start(agent, self._rollout_state(), key)
        self._last_state = state
        return state

    def template(self, batch_shape: tuple[int, ...] = ()) -> TrainState:
        """The `TrainState` structure of this trainer (`jax.ShapeDtypeStruct` leaves, leading
        axes ``batch_shape``), for `jaxpg.checkpoint.restore`; ``rollout.env_state`` is None."""
        num_envs = self.config.num_envs
        obs_shape = tuple(self.env.observation_space(self.env_params).shape)
        rollout = RolloutState(
            obs=jax.ShapeDtypeStruct((num_envs, *obs_shape), jnp.float32),
            env_state=None,
            episode_return=jax.ShapeDtypeStruct((num_envs,), jnp.float32),
            episode_length=jax.ShapeDtypeStruct((num_envs,), jnp.int32),
        )
        single = jax.eval_shape(
            lambda key: TrainState.start(self.algorithm.init(key), rollout, key),
            jax.random.key(0),
        )
        return batched_template(single, batch_shape)

    def run(
        self, state: TrainState, num_iterations: int, callback: Callback | None = None
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        """Runs ``num_iterations`` iterations from ``state``.

        Args:
            state: from `init` or a previous `run` (see the class docstring).
            num_iterations: iterations to run (each ``num_envs * num_steps`` env steps).
            callback: called after every iteration (see `Callback`).

        Returns:
            ``(state, metrics)``: metrics as `jaxpg.train`'s, ``[num_iterations]`` arrays.
        """
        if state is not self._last_state:
            self._reset_envs(resume_reset_key(state.key))
        agent, progress, key = state.agent, state.progress, state.key
        history: dict[str, list[np.ndarray]] = {}
        for _ in range(num_iterations):
            key, rollout_key, update_key = self._iteration_keys(key)
            trajectory, stats = self.rollout(agent, progress.iteration, rollout_key)
            start = time.perf_counter()
            stats = EpisodeStats(
                np.float32(stats.return_sum), np.float32(stats.length_sum), np.int32(stats.count)
            )
            agent, progress, packed = self._learn(agent, progress, update_key, trajectory, stats)
            metrics = self._unpack(packed)
            self.timings["update"] += time.perf_counter() - start
            if self.config.eval_every:
                metrics.update(self._evaluation(agent, progress, key))
            for name, value in metrics.items():
                history.setdefault(name, []).append(value)
            if callback is not None:
                callback(int(progress.iteration), metrics)

        new_state = TrainState(agent, self._rollout_state(), key, progress)
        self._last_state = new_state
        return new_state, {name: jnp.asarray(np.stack(values)) for name, values in history.items()}

    def rollout(
        self, agent: Any, iteration: jax.Array, key: jax.Array
    ) -> tuple[Trajectory, EpisodeStats]:
        """Steps the vector environment ``num_steps`` times from where it is (`run` uses this).

        Args:
            agent: the algorithm's state; its ``behaviour(agent, iteration)`` picks the actions.
            iteration: int32 scalar, the iteration number given to ``behaviour``.
            key: a PRNG key for the actions.

        Returns:
            ``(trajectory, stats)``: a time-major `Trajectory` of numpy arrays ``[T, B, ...]``
            (as `jaxpg.rollout.rollout` returns) and the `EpisodeStats` (Python numbers) of the
            episodes that finished.
        """
        env, num_steps, num_envs = self.env, self.config.num_steps, self.config.num_envs
        obs = self._obs
        obs_buffer = np.empty((num_steps, *obs.shape), np.float32)
        next_obs_buffer = np.empty_like(obs_buffer)
        reward = np.empty((num_steps, num_envs), np.float32)
        terminated = np.empty((num_steps, num_envs), bool)
        truncated = np.empty((num_steps, num_envs), bool)
        actions, log_probs = [], []
        episode_return, episode_length = self._episode_return, self._episode_length
        return_sum, length_sum, count = 0.0, 0.0, 0
        policy_time = env_time = 0.0
        for t in range(num_steps):
            start = time.perf_counter()
            key, action, log_prob = self._act(agent, iteration, key, obs)
            action = np.asarray(action)
            middle = time.perf_counter()
            actions.append(action)
            log_probs.append(log_prob)
            obs_buffer[t] = obs
            next_obs, reward[t], terminated[t], truncated[t], info = self.vector_env.step(
                env.host_action(action)
            )
            obs = env.host_observation(next_obs)
            next_obs_buffer[t] = obs
            final = info.get("_final_obs")
            if final is not None and final.any():
                rows = np.flatnonzero(final)
                next_obs_buffer[t, rows] = env.host_observation(np.stack(info["final_obs"][rows]))
            episode_return = episode_return + reward[t]
            episode_length = episode_length + 1
            done = terminated[t] | truncated[t]
            if done.any():
                return_sum += float(episode_return[done].sum())
                length_sum += float(episode_length[done].sum())
                count += int(done.sum())
                episode_return = np.where(done, np.float32(0), episode_return)
                episode_length = np.where(done, np.int32(0), episode_length)
            end = time.perf_counter()
            policy_time += middle - start
            env_time += end - middle
        self._obs, self._episode_return, self._episode_length = obs, episode_return, episode_length
        self.timings["policy"] += policy_time
        self.timings["env"] += env_time
        trajectory = Trajectory(
            obs=obs_buffer,
            action=np.stack(actions),
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            log_prob=np.stack([np.asarray(lp) for lp in log_probs]),
            next_obs=next_obs_buffer,
        )
        return trajectory, EpisodeStats(return_sum, length_sum, count)

    def _evaluation(self, agent: Any, progress: Any, key: jax.Array) -> dict[str, np.ndarray]:
        """`jaxpg.evaluation.EVAL_METRICS` after this iteration: episodes on vector
        environments of their own when an evaluation is due (as in `jaxpg.train`), else NaN."""
        from jaxpg.evaluation import (
            evaluate,
            evaluation_due,
            evaluation_key,
            evaluation_metrics,
            no_evaluation_metrics,
        )

        if not evaluation_due(int(progress.iteration), self.config):
            return {name: np.asarray(value) for name, value in no_evaluation_metrics().items()}
        start = time.perf_counter()
        sampled_key, greedy_key = jax.random.split(evaluation_key(key))
        returns = [
            evaluate(
                self.config,
                self.env,
                self.env_params,
                agent.params,
                eval_key,
                self.config.eval_episodes,
                greedy=greedy,
                policy=self.algorithm.policy,
            )
            for eval_key, greedy in ((sampled_key, False), (greedy_key, True))
        ]
        self.timings["evaluation"] = self.timings.get("evaluation", 0.0) + (
            time.perf_counter() - start
        )
        return {name: np.asarray(value) for name, value in evaluation_metrics(*returns).items()}

    def _unpack(self, packed: jax.Array) -> dict[str, np.ndarray]:
        """The packed metric vector as named numpy scalars with the algorithm's dtypes."""
        return {
            name: np.asarray(value).astype(dtype)
            for name, value, dtype in zip(
                self._metric_names, np.asarray(packed), self._metric_dtypes, strict=True
            )
        }

    def _rollout_state(self) -> RolloutState:
        return RolloutState(
            obs=jnp.asarray(self._obs),
            env_state=None,
            episode_return=jnp.asarray(self._episode_return),
            episode_length=jnp.asarray(self._episode_length),
        )

    def fork(self) -> HostTrainer:
        """A trainer with its own vector environment and episodes, sharing this one's algorithm,
        compiled functions and `timings`: several seeds trained in turn compile once.

        Returns:
            A new `HostTrainer` (close it as well); start it with `init` or give it a state
            (its environments are then reset, see the class docstring).
        """
        twin = copy.copy(self)
        twin.vector_env = self.env.make_vector_env(self.config.num_envs)
        twin._last_state = None
        twin._obs = np.zeros(0)
        twin._episode_return = np.zeros(self.config.num_envs, np.float32)
        twin._episode_length = np.zeros(self.config.num_envs, np.int32)
        return twin

    def close(self) -> None:
        """Closes the vector environment."""
        self.vector_env.close()

    def __enter__(self) -> HostTrainer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def resume_reset_key(key: jax.Array) -> jax.Array:
    """The key that reseeds the environments when a `HostTrainer` continues from a state it did
    not produce: the carried key's fourth stream, which `jaxpg.train.iteration_keys` (three
    streams) never hands out."""
    return jax.random.split(key, 4)[3]


def make_host_trainer(
    config: BaseConfig,
    env: Any,
    env_params: Any,
    *,
    policy: Policy | None = None,
    critic: Critic | None = None,
) -> HostTrainer:
    """Builds a `HostTrainer` for a gymnasium environment.

    Args:
        config: an algorithm config (`TRPOConfig`, `PPOConfig`, `ActorCriticConfig`,
            `VPGConfig`); ``num_envs`` copies of the environment are stepped on the host.
        env: a `jaxpg.envs.gymnasium_bridge.GymnasiumEnv` (``make_env("gymnasium:<id>")``).
        env_params: its parameters.
        policy: the policy network to train; None: the config's MLP.
        critic: the critic, for algorithms with one; None: the config's MLP.

    Returns:
        A `HostTrainer` (close it, or use it in a ``with`` block).

    Raises:
        ValueError: a JAX environment, an invalid config, or vine sampling (the states of a
            gymnasium environment cannot be copied).
    """
    return HostTrainer(config, env, env_params, policy=policy, critic=critic)


def train_host(
    config: BaseConfig,
    env: Any,
    env_params: Any,
    key: jax.Array,
    callback: Callback | None = None,
    *,
    policy: Policy | None = None,
    critic: Critic | None = None,
) -> TrainResult:
    """Trains on a gymnasium environment for ``config.num_iterations`` iterations.

    The host-side counterpart of ``jax.jit(jaxpg.make_train(config, env, env_params))(key)``.

    Args:
        config: an algorithm config.
        env: a `GymnasiumEnv`.
        env_params: its parameters.
        key: a PRNG key; the same key gives the same run.
        callback: ``callback(iteration, metrics)`` after every iteration (progress, logging).
        policy: the policy network to train; None: the config's MLP.
        critic: the critic, for algorithms with one; None: the config's MLP.

    Returns:
        A `jaxpg.TrainResult`: ``metrics`` of ``[num_iterations]`` arrays and the final
        `TrainState` (``result.params`` holds the networks' parameters).
    """
    with make_host_trainer(config, env, env_params, policy=policy, critic=critic) as trainer:
        state = trainer.init(key)
        state, metrics = trainer.run(state, config.num_iterations, callback=callback)
    return TrainResult(metrics=metrics, state=state)


def play_host_episodes(
    env: Any,
    act: Callable[[jax.Array, Any], tuple[jax.Array, jax.Array]],
    key: jax.Array,
    num_episodes: int,
    horizon: int,
) -> jax.Array:
    """Undiscounted returns of ``num_episodes`` episodes of a gymnasium environment on the host.

    The host half of `jaxpg.evaluate` (which checks the arguments and builds ``act``).

    Args:
        env: a `GymnasiumEnv`.
        act: jitted ``(key, obs) -> (key, action)`` for a batch of observations.
        key: a PRNG key (actions and the environments' seed).
        num_episodes: episodes, played in parallel, one per environment copy.
        horizon: step limit per episode.

    Returns:
        ``[num_episodes]`` float32 returns.
    """
    seed_key, key = jax.random.split(key)
    vector_env = env.make_vector_env(num_episodes)
    try:
        obs, _ = vector_env.reset(seed=int(jax.random.randint(seed_key, (), 0, 2**31 - 1)))
        obs = env.host_observation(obs)
        returns = np.zeros(num_episodes, np.float64)
        running = np.ones(num_episodes, bool)
        for _ in range(int(horizon)):
            key, action = act(key, obs)
            next_obs, reward, terminated, truncated, _ = vector_env.step(
                env.host_action(np.asarray(action))
            )
            obs = env.host_observation(next_obs)
            returns += np.where(running, reward, 0.0)
            running &= ~(terminated | truncated)
            if not running.any():
                break
    finally:
        vector_env.close()
    return jnp.asarray(returns, jnp.float32)
