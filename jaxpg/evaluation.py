"""`evaluate`: undiscounted returns of complete episodes under a trained policy.

One evaluator for every environment: JAX environments play their episodes in one compiled
rollout (the training rollout, `jaxpg.rollout`); host-side gymnasium environments
(`make_env("gymnasium:<id>")`) step on the host with a jitted policy
(`jaxpg.host_train.play_host_episodes`). The policy is the one that was trained: pass the
trainer's ``algorithm.policy`` when it is not the config's default MLP.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpg import normalization
from jaxpg import rollout as rollout_lib
from jaxpg.config import BaseConfig
from jaxpg.networks import Policy, default_policy


def evaluate(
    config: BaseConfig,
    env: Any,
    env_params: Any,
    params: Any,
    key: jax.Array,
    num_episodes: int = 100,
    greedy: bool = False,
    *,
    policy: Policy | None = None,
    max_steps: int | None = None,
) -> jax.Array:
    """Runs ``num_episodes`` episodes in parallel and returns their undiscounted returns.

    Each of ``num_episodes`` environments plays exactly one episode (to termination or the time
    limit) with the rollout used in training.

    Args:
        config: the config the policy was trained with (it fixes the default network).
        env: the environment (a JAX environment, or a host-side gymnasium one).
        env_params: its parameters.
        params: ``TrainResult.params`` (a dict with ``"policy"``, and ``"obs_norm"`` when the
            run normalised observations: applied frozen) or the bare policy parameters.
        key: a PRNG key.
        num_episodes: number of episodes (static).
        greedy: take the most probable action (Gaussian mean) instead of sampling.
        policy: the trained `jaxpg.networks.Policy` (``trainer.algorithm.policy``); None: the
            MLP that ``config`` builds by default.
        max_steps: step limit per episode; default ``env_params.max_steps_in_episode`` (must
            be a concrete integer: it fixes the loop length).

    Returns:
        ``[num_episodes]`` float32 returns.

    Raises:
        ValueError: ``params`` do not fit the policy (another network, another environment's
            observation or action shape), or an invalid ``num_episodes`` / ``max_steps``.
    """
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be an integer >= 1; got {num_episodes!r}")
    greedy = bool(greedy)
    given = None if policy is None else Policy(*policy)
    checked = given or default_policy(config, env, env_params)
    policy_params = _policy_params(params)
    check_policy_params(checked, policy_params, config=None if given else config, env=env)
    horizon = episode_horizon(env, env_params, max_steps)

    if getattr(env, "RUNS_ON_HOST", False):
        from jaxpg.host_train import play_host_episodes

        act = _host_actor(checked, greedy)
        return play_host_episodes(
            env, functools.partial(act, params, policy_params), key, num_episodes, horizon
        )

    inputs = (env_params, params, key)
    program = None
    if not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(inputs)):
        try:  # called eagerly: one compiled program per configuration, kept
            program = _compiled_evaluation(config, env, given, num_episodes, greedy, horizon)
        except TypeError:  # an unhashable config (e.g. traced fields): no cache
            program = None
    if program is None:  # inside the caller's jit / vmap: part of their program
        program = functools.partial(_play, config, env, given, num_episodes, greedy, horizon)
    return program(*inputs)


def _policy_params(params: Any) -> Any:
    return params["policy"] if isinstance(params, dict) and "policy" in params else params


def acting_policy(policy: Policy, params: Any, greedy: bool) -> rollout_lib.PolicyFn:
    """The acting function of ``policy`` with ``params`` (the whole dict: observation
    statistics travel in it, applied frozen, never updated)."""

    def apply(policy_params: Any, obs: jax.Array) -> Any:
        return policy.apply(policy_params, normalization.observe(params, obs))

    return rollout_lib.sample_policy(apply, _policy_params(params), greedy=greedy)


@functools.lru_cache(maxsize=32)
def _host_actor(policy: Policy, greedy: bool) -> Any:
    """``act(params, policy_params, key, obs) -> (key, action)``, jitted once per policy.

    The parameters are arguments, not constants folded into the per-step program.
    """

    @jax.jit
    def act(params: Any, policy_params: Any, key: jax.Array, obs: jax.Array) -> Any:
        key, action_key = jax.random.split(key)
        action, _ = acting_policy(policy, params, greedy)(action_key, obs)
        return key, action

    return act


@functools.lru_cache(maxsize=32)
def _compiled_evaluation(
    config: BaseConfig,
    env: Any,
    policy: Policy | None,
    num_episodes: int,
    greedy: bool,
    horizon: int,
) -> Any:
    """`_play` jitted over ``(env_params, params, key)``, kept for calls with the same
    configuration, so that repeated evaluations (every N iterations, several checkpoints)
    compile once."""
    from jaxpg.train import COMPILER_OPTIONS

    program = functools.partial(_play, config, env, policy, num_episodes, greedy, horizon)
    return jax.jit(program, compiler_options=COMPILER_OPTIONS)


def _play(
    config: BaseConfig,
    env: Any,
    policy: Policy | None,
    num_episodes: int,
    greedy: bool,
    horizon: int,
    env_params: Any,
    params: Any,
    key: jax.Array,
) -> jax.Array:
    """The returns of ``num_episodes`` episodes of a JAX environment, one rollout."""
    policy = policy or default_policy(config, env, env_params)
    return episode_returns(env, env_params, policy, params, key, num_episodes, greedy, horizon)


def episode_returns(
    env: Any,
    env_params: Any,
    policy: Policy,
    params: Any,
    key: jax.Array,
    num_episodes: int,
    greedy: Any,
    horizon: int,
) -> jax.Array:
    """``[num_episodes]`` undiscounted returns of one episode per environment, played in one
    rollout of ``horizon`` steps (the training rollout); ``greedy`` as in
    `jaxpg.rollout.sample_policy` (a bool, or a ``[num_episodes]`` mask)."""
    reset_key, rollout_key = jax.random.split(key)
    state = rollout_lib.reset(reset_key, env, env_params, num_episodes)
    policy_fn = acting_policy(policy, params, greedy)
    _, trajectory, _ = rollout_lib.rollout(rollout_key, env, env_params, state, policy_fn, horizon)
    done = trajectory.done
    # A step counts if no episode end came before it (the first episode only).
    ended_before = jnp.cumsum(done, axis=0) - done
    return jnp.sum(jnp.where(ended_before == 0, trajectory.reward, 0.0), axis=0)


#: The metrics of evaluation during training (`BaseConfig.eval_every`), in every iteration's
#: metrics and NaN on the iterations without an evaluation: the mean and standard deviation of
#: ``eval_episodes`` returns with sampled actions, and of as many with the greedy action.
EVAL_METRICS = ("eval_return", "eval_return_std", "eval_greedy_return", "eval_greedy_return_std")

# Folded into the training key at an evaluation: evaluation keys never come from the training
# stream's splits, so a run's training is the same with evaluation on or off. (With JAX's
# partitionable threefry, fold_in(key, i) can equal split(key, n)[i]; the carried key is only
# ever split in 3 (`jaxpg.train.iteration_keys`), far below this constant.)
_EVAL_STREAM = 0x6576616C


def evaluation_key(key: jax.Array) -> jax.Array:
    """The key of an evaluation during training, derived from the run's carried key."""
    return jax.random.fold_in(key, _EVAL_STREAM)


def evaluation_due(iterations_done: Any, config: BaseConfig, last_iteration: Any = None) -> Any:
    """Whether the policy is evaluated after ``iterations_done`` iterations: every
    ``config.eval_every``-th, and the last of the run (``last_iteration``, by default
    ``config.num_iterations``)."""
    last = config.num_iterations if last_iteration is None else last_iteration
    return (iterations_done % config.eval_every == 0) | (iterations_done == last)


def evaluation_metrics(sampled: Any, greedy: Any) -> dict[str, jax.Array]:
    """The `EVAL_METRICS` of the returns of sampled and of greedy episodes."""
    sampled, greedy = jnp.asarray(sampled, jnp.float32), jnp.asarray(greedy, jnp.float32)
    return {
        "eval_return": sampled.mean(),
        "eval_return_std": sampled.std(),
        "eval_greedy_return": greedy.mean(),
        "eval_greedy_return_std": greedy.std(),
    }


def no_evaluation_metrics() -> dict[str, jax.Array]:
    """The `EVAL_METRICS` of an iteration without an evaluation: NaN."""
    return {name: jnp.full((), jnp.nan, jnp.float32) for name in EVAL_METRICS}


def eval_horizon(config: BaseConfig, env: Any, env_params: Any) -> int:
    """Steps of an evaluation episode during training: the environment's time limit.

    Raises:
        ValueError: ``config.eval_every`` is set and the environment has no concrete time
            limit (``env_params.max_steps_in_episode``).
    """
    try:
        return episode_horizon(env, env_params, None)
    except ValueError as error:
        raise ValueError(
            f"eval_every={config.eval_every} needs the episodes' time limit: {error}"
        ) from error


def make_periodic_evaluation(config: BaseConfig, env: Any, env_params: Any, policy: Policy) -> Any:
    """``evaluate(params, key) -> metrics``: `EVAL_METRICS` of ``config.eval_episodes``
    sampled and as many greedy episodes of a JAX environment, played side by side in one
    rollout (one copy of the environment step in the compiled program)."""
    horizon = eval_horizon(config, env, env_params)
    count = config.eval_episodes
    greedy = np.arange(2 * count) >= count  # the second half plays greedily

    def evaluate_params(params: Any, key: jax.Array) -> dict[str, jax.Array]:
        returns = episode_returns(env, env_params, policy, params, key, 2 * count, greedy, horizon)
        return evaluation_metrics(returns[:count], returns[count:])

    return evaluate_params


def episode_horizon(env: Any, env_params: Any, max_steps: int | None = None) -> int:
    """The steps an evaluation episode may take: ``max_steps``, or else the environment's time
    limit (``env_params.max_steps_in_episode``, which must be a concrete integer).

    Raises:
        ValueError: an invalid ``max_steps``, or no concrete time limit.
    """
    if max_steps is not None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an integer >= 1; got {max_steps!r}")
        return max_steps
    limit = getattr(env_params, "max_steps_in_episode", None)
    if limit is None:
        raise ValueError(
            f"{getattr(env, 'name', type(env).__name__)} has no time limit "
            "(env_params.max_steps_in_episode); pass max_steps"
        )
    try:
        return int(limit)
    except (TypeError, jax.errors.ConcretizationTypeError) as error:
        raise ValueError(
            "evaluate needs a concrete env_params.max_steps_in_episode (it fixes the loop "
            "length); do not trace it, or pass max_steps"
        ) from error


def check_policy_params(
    policy: Policy, policy_params: Any, *, config: BaseConfig | None = None, env: Any = None
) -> None:
    """Raises ValueError when ``policy_params`` do not fit ``policy``.

    Compares the pytree structure and every leaf's shape (not values) with
    ``jax.eval_shape(policy.init, key)``, so it works on traced parameters too. ``config``:
    the policy is that config's default MLP (named in the message, with the hint to pass
    ``policy=`` for a network of one's own).
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
    if not problems:
        return
    shown = "; ".join(problems[:4]) + ("; ..." if len(problems) > 4 else "")
    env_name = getattr(env, "name", type(env).__name__)
    if config is not None:
        which = (
            f"the policy that {type(config).__name__}(hidden_sizes={config.hidden_sizes}) "
            f"builds for {env_name}"
        )
        hint = (
            "Evaluate with the config and environment the parameters were trained on, or pass "
            "the trained network as policy= (trainer.algorithm.policy)"
        )
    else:
        which = f"the given policy on {env_name}"
        hint = "Pass the policy the parameters were trained with"
    raise ValueError(
        f"the parameters do not match {which}: {shown}. {hint} (a vmapped result holds one "
        "parameter set per seed: vmap evaluate over them)"
    )
