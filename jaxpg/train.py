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

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpg import evaluation, parallel
from jaxpg import rollout as rollout_lib
from jaxpg.algorithms.base import Algorithm
from jaxpg.bookkeeping import Progress, StepCount, learn
from jaxpg.config import BaseConfig
from jaxpg.networks import Critic, Policy
from jaxpg.spaces import describe, is_box, is_discrete

#: XLA options for compiling jaxpg's programs on the CPU: LLVM at optimisation level 1
#: instead of XLA's default 2. The training programs spend most of their compile time in
#: LLVM; measured on 2 CPU cores (`benchmarks/bench_fixed_costs.py`, RESULTS "fixed_costs"):
#: XLA compile -26% for TRPO and -16% for PPO on CartPole-v1, -14% for TRPO on Brax hopper, at
#: the price of a slower compiled program (TRPO +4%, PPO +24%, Brax hopper +9%): a gain for
#: the short runs of the CLI's defaults, a loss for long ones. The CLI and `jaxpg.evaluate`
#: compile with them; pass them, or not, to your own
#: ``jax.jit(train, compiler_options=jaxpg.COMPILER_OPTIONS)``.
COMPILER_OPTIONS: dict[str, Any] = {"xla_backend_optimization_level": 1}

#: `COMPILER_OPTIONS` for short experiments, where compiling costs more than running:
#:
#: * XLA:CPU's older loop emitters instead of its MLIR fusion emitters, which take most of the
#:   time XLA spends emitting a kernel;
#: * YNNPACK (XLA:CPU's kernel library) for the elementwise operations and reductions around
#:   matrix products too, not the products alone: they are not compiled at all. This also
#:   wins back most of what the older emitters lose at run time: they compute a
#:   transcendental function (``tanh`` after a ``Dense`` layer) one element at a time when
#:   it overwrites its input.
#:
#: The CLI compiles with them for runs of up to 1M environment steps (``--compile auto``).
#: Measured on 2 CPU cores (`benchmarks/bench_fixed_costs.py`, RESULTS "fixed_costs"): see
#: the README's benchmark table. Results agree with the other options' to float32 round-off,
#: not bit for bit. ``jax.jit(train, compiler_options=jaxpg.FAST_COMPILE_OPTIONS)``.
FAST_COMPILE_OPTIONS: dict[str, Any] = {
    **COMPILER_OPTIONS,
    "xla_cpu_use_fusion_emitters": False,
    "xla_cpu_experimental_ynn_fusion_type": ",".join(
        f"LIBRARY_FUSION_TYPE_{kind}" for kind in ("DOT", "ELTWISE", "REDUCE")
    ),
}


class TrainState(NamedTuple):
    """Everything a training run carries from one iteration to the next.

    Attributes:
        agent: the algorithm's state (``agent.params`` holds the networks' parameters).
        rollout: environment states and running episode accumulators.
        key: the PRNG key for the remaining iterations.
        progress: the `jaxpg.bookkeeping.Progress` counters (``iteration``, the latest
            ``episode_return`` and ``episode_length``, the exact ``env_steps``).
    """

    agent: Any
    rollout: rollout_lib.RolloutState
    key: jax.Array
    progress: Progress

    @classmethod
    def start(cls, agent: Any, rollout: rollout_lib.RolloutState, key: jax.Array) -> TrainState:
        """The state before the first iteration: counters at zero, no episode finished."""
        return cls(agent=agent, rollout=rollout, key=key, progress=Progress.start())

    @property
    def iteration(self) -> jax.Array:
        """int32 number of completed iterations."""
        return self.progress.iteration

    @property
    def env_steps(self) -> StepCount:
        """Environment steps so far (vine branches included), exact; ``.value()`` on the host."""
        return self.progress.env_steps


class TrainResult(NamedTuple):
    """Result of `train`.

    Attributes:
        metrics: dict of ``[num_iterations]`` arrays: ``episode_return`` (NaN until an episode
            has finished), ``episode_length``, ``episodes_finished``, ``env_steps``
            (cumulative, float32), ``skipped_updates`` and the algorithm's own (losses,
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
    """A chunkable training run.

    Attributes:
        init: ``key -> TrainState``.
        run: ``(state, num_iterations, first_iteration=0, last_iteration=None) -> (state,
            metrics)``; metrics ``[num_iterations]``. With ``config.eval_every``, the policy
            is evaluated after each iteration whose number, counted from ``first_iteration``
            (a Python int, or an int32 that is not batched under vmap), is a multiple of
            ``eval_every`` or equals ``last_iteration`` (default ``config.num_iterations``):
            pass the state's iteration count when running in chunks whose lengths are not
            multiples of ``eval_every``.
        algorithm: the `Algorithm` (its ``policy`` and ``critic`` are the trained networks).
        config: the config.
        template: ``batch_shape -> TrainState`` of `jax.ShapeDtypeStruct` leaves, the structure
            `jaxpg.checkpoint.restore` fills (``batch_shape``: e.g. ``(num_seeds,)``).
    """

    init: Callable[[jax.Array], TrainState]
    run: Callable[[TrainState, int], tuple[TrainState, dict[str, jax.Array]]]
    algorithm: Algorithm
    config: BaseConfig
    template: Callable[..., TrainState]


def init_keys(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(agent_key, reset_key, carried_key)``: how `Trainer.init` spends its key."""
    agent_key, reset_key, carried = jax.random.split(key, 3)
    return agent_key, reset_key, carried


def iteration_keys(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(carried_key, rollout_key, update_key)``: how one iteration spends the carried key."""
    carried, rollout_key, update_key = jax.random.split(key, 3)
    return carried, rollout_key, update_key


def batched_template(single: Any, batch_shape: tuple[int, ...] = ()) -> Any:
    """``single`` (a pytree of arrays or shape structs) as `jax.ShapeDtypeStruct` leaves with
    leading axes ``batch_shape``."""
    return jax.tree.map(
        lambda leaf: jax.ShapeDtypeStruct(tuple(batch_shape) + tuple(leaf.shape), leaf.dtype),
        single,
    )


def check_environment(env: Any, env_params: Any) -> None:
    """Raises ValueError, before tracing, when ``env`` lacks what jaxpg needs.

    jaxpg trains any object with gymnax 1.0's environment API: ``reset(key, params) -> (obs,
    state)``, ``step(key, state, action, params) -> (obs, state, reward, terminated, truncated,
    info)`` with auto-reset and ``info["final_observation"]`` (the real last observation of an
    episode that ended), ``observation_space(params)`` and ``action_space(params)`` (Discrete
    with ``n``, or Box with ``low``, ``high``, ``shape``). Subclassing gymnax's `Environment`
    is not required. Whether ``step`` puts ``final_observation`` in ``info`` is checked with
    `jax.eval_shape` (nothing runs).
    """
    name = getattr(env, "name", type(env).__name__)
    missing = [
        m
        for m in ("reset", "step", "observation_space", "action_space")
        if not callable(getattr(env, m, None))
    ]
    if missing:
        raise ValueError(
            f"environment {name} lacks {', '.join(missing)}; jaxpg needs gymnax 1.0's API "
            "(reset, step, observation_space, action_space)"
        )
    action_space = env.action_space(env_params)
    if not (is_discrete(action_space) or is_box(action_space)):
        raise ValueError(
            f"{name} has a {describe(action_space)} action space; jaxpg supports Discrete "
            "(with n) and Box (with low, high, shape) action spaces"
        )
    if getattr(env, "RUNS_ON_HOST", False):
        return
    key = jax.random.key(0)
    try:
        obs, state = jax.eval_shape(env.reset, key, env_params)
        action = jnp.zeros(action_space.shape, action_space.dtype)
        out = jax.eval_shape(env.step, key, state, action, env_params)
    except Exception as error:  # any failure here is a broken environment, said plainly
        raise ValueError(
            f"{name}.reset / step could not be traced with gymnax 1.0's signatures "
            f"(reset(key, params), step(key, state, action, params)): {error}"
        ) from error
    if not (isinstance(out, tuple) and len(out) == 6):
        raise ValueError(
            f"{name}.step must return (obs, state, reward, terminated, truncated, info) as "
            "in gymnax 1.0; it returned "
            f"{len(out) if isinstance(out, tuple) else type(out).__name__} values"
        )
    info = out[5]
    if not isinstance(info, dict) or "final_observation" not in info:
        raise ValueError(
            f'{name}.step must put the real last observation of an episode in info["final_'
            'observation"] (gymnax 1.0 auto-reset API; wrap older environments so that '
            "truncated episodes can be bootstrapped)"
        )


def make_trainer(
    config: BaseConfig,
    env: Any,
    env_params: Any,
    *,
    policy: Policy | None = None,
    critic: Critic | None = None,
    mesh: jax.sharding.Mesh | None = None,
    axis_name: str = parallel.BATCH_AXIS,
) -> Trainer:
    """Builds the chunkable trainer (see the module docstring).

    Args:
        config: an algorithm config (`VPGConfig`, `ActorCriticConfig`, `TRPOConfig`,
            `PPOConfig`); validated here, before tracing.
        env: a gymnax-API environment (see `check_environment`).
        env_params: its parameters.
        policy: the `jaxpg.networks.Policy` to train (e.g. ``policy_from_module(MyModule(),
            obs_shape, action_space)``); None: the config's MLP.
        critic: the `jaxpg.networks.Critic` for algorithms with one; None: the config's MLP.
        mesh: a `jax.sharding.Mesh` to train data-parallel on (`jaxpg.data_parallel_mesh`):
            the ``config.num_envs`` environments are split along ``axis_name``, which must
            divide them; parameters are replicated. None: no sharding constraints at all.
        axis_name: the mesh axis to split the environments along.

    Returns:
        A `Trainer`.
    """
    config.validate()
    check_environment(env, env_params)
    if getattr(env, "RUNS_ON_HOST", False):
        raise ValueError(
            f"environment {getattr(env, 'name', type(env).__name__)} runs on the host "
            "(gymnasium); train it with jaxpg.host_train.make_host_trainer"
        )
    if mesh is not None:
        parallel.check_mesh(mesh, config.num_envs, axis_name)
    algorithm = config.make_algorithm(env, env_params, policy=policy, critic=critic)

    def constrain(tree: Any, batch_dim: int | None) -> Any:
        """Pins ``tree`` to the mesh: split along ``batch_dim``, or replicated when None."""
        if mesh is None:
            return tree
        if batch_dim is None:
            return parallel.replicate(tree, mesh)
        return parallel.shard_batch(tree, mesh, axis_name, batch_dim)

    def init(key: jax.Array) -> TrainState:
        agent_key, reset_key, key = init_keys(key)
        rollout_state = rollout_lib.reset(reset_key, env, env_params, config.num_envs)
        return TrainState.start(
            constrain(algorithm.init(agent_key), None), constrain(rollout_state, 0), key
        )

    def iteration(state: TrainState, _: Any) -> tuple[TrainState, dict[str, jax.Array]]:
        key, rollout_key, update_key = iteration_keys(state.key)
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
        agent, progress, metrics = learn(
            algorithm, config.batch_size, update_key, state.agent, state.progress, trajectory, stats
        )
        new_state = TrainState(constrain(agent, None), rollout_state, key, progress)
        return new_state, metrics

    evaluate_params = (
        evaluation.make_periodic_evaluation(config, env, env_params, algorithm.policy)
        if config.eval_every
        else None
    )

    def evaluated(state: TrainState) -> dict[str, jax.Array]:
        return evaluate_params(state.agent.params, evaluation.evaluation_key(state.key))

    def not_evaluated(state: TrainState) -> dict[str, jax.Array]:
        return evaluation.no_evaluation_metrics()

    def run(
        state: TrainState,
        num_iterations: int,
        first_iteration: Any = 0,
        last_iteration: Any = None,
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        if evaluate_params is None:
            return jax.lax.scan(iteration, state, None, num_iterations)

        def body(state: TrainState, index: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
            state, metrics = iteration(state, None)
            # The schedule counts from ``first_iteration``, not from the (per-seed, so batched
            # under vmap) counter in the state: an unbatched predicate keeps `lax.cond` a real
            # branch under vmap instead of a select that would evaluate every iteration.
            due = evaluation.evaluation_due(first_iteration + index + 1, config, last_iteration)
            return state, {**metrics, **jax.lax.cond(due, evaluated, not_evaluated, state)}

        return jax.lax.scan(body, state, jnp.arange(num_iterations))

    @functools.cache
    def single() -> TrainState:  # traced on first use: a CLI run from stored programs never is
        return jax.eval_shape(init, jax.random.key(0))

    def template(batch_shape: tuple[int, ...] = ()) -> TrainState:
        return batched_template(single(), batch_shape)

    return Trainer(init=init, run=run, algorithm=algorithm, config=config, template=template)


def make_train(
    config: BaseConfig,
    env: Any,
    env_params: Any,
    *,
    policy: Policy | None = None,
    critic: Critic | None = None,
    mesh: jax.sharding.Mesh | None = None,
    axis_name: str = parallel.BATCH_AXIS,
) -> Callable[[jax.Array], TrainResult]:
    """Returns the pure ``train(key) -> TrainResult`` for a config and an environment.

    Args:
        config: an algorithm config; validated here, before tracing (traced fields in a sweep
            are skipped).
        env: a gymnax-API environment (`jaxpg.make_env`, `gymnax.make`, or your own).
        env_params: its parameters.
        policy: the policy network to train (`jaxpg.networks.Policy`); None: the config's MLP.
        critic: the critic, for algorithms with one; None: the config's MLP.
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
    trainer = make_trainer(
        config, env, env_params, policy=policy, critic=critic, mesh=mesh, axis_name=axis_name
    )

    def train(key: jax.Array) -> TrainResult:
        state, metrics = trainer.run(trainer.init(key), config.num_iterations)
        return TrainResult(metrics=metrics, state=state)

    return train
