"""The interface every algorithm implements, and the helpers they share.

An algorithm is an `Algorithm`: three pure functions over an algorithm-specific agent state
(a pytree whose ``params`` field is a dict with at least ``"policy"``), and the networks it
trains. `jaxpg.train` drives it: it collects a trajectory with ``behaviour(agent, iteration)``,
then calls ``update(key, agent, trajectory, iteration)``. The same functions serve the host-side
gymnasium bridge, which collects the trajectory itself and calls the jitted ``update``.

Networks are passed in (``make_trpo(config, env, env_params, policy=..., critic=...)``);
`resolve_networks` falls back to the config's defaults (`jaxpg.networks.default_policy`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from jaxpg import losses
from jaxpg.networks import Critic, Policy, default_critic, default_policy, observation_shape
from jaxpg.normalization import with_normalization
from jaxpg.rollout import PolicyFn, Trajectory, sample_policy

Metrics = dict[str, jax.Array]


class Update(NamedTuple):
    """What ``update`` returns.

    Attributes:
        agent: the new agent state.
        metrics: scalar metrics of the update (losses, KL, entropy, ...).
        extra_env_steps: int32 scalar, environment steps the update itself took besides the
            rollout's (the vine's branches); 0 for most algorithms.
    """

    agent: Any
    metrics: Metrics
    extra_env_steps: Any = 0


class Algorithm(NamedTuple):
    """An algorithm as pure functions, with the networks it trains.

    Attributes:
        init: ``key -> agent`` (parameters and optimiser states, a pytree with ``.params``).
        behaviour: ``(agent, iteration) -> policy_fn`` the policy that collects the data.
        update: ``(key, agent, trajectory, iteration) -> Update``.
        policy: the `Policy` (``policy.apply(agent.params["policy"], obs)``).
        critic: the `Critic` (``agent.params["value"]``), or None when there is none.
        needs_env_states: the trajectory must carry environment states (vine sampling).
    """

    init: Callable[[jax.Array], Any]
    behaviour: Callable[[Any, jax.Array], PolicyFn]
    update: Callable[[jax.Array, Any, Trajectory, jax.Array], Update]
    policy: Policy
    critic: Critic | None = None
    needs_env_states: bool = False


def resolve_networks(
    config: Any,
    env: Any,
    env_params: Any,
    policy: Policy | None,
    critic: Critic | None,
    needs_critic: bool = True,
) -> tuple[Policy, Critic | None]:
    """The networks an algorithm trains: those passed in, else the config's defaults.

    Raises:
        ValueError: a critic is passed to an algorithm configured without one.
    """
    if critic is not None and not needs_critic:
        raise ValueError(
            f"critic: {type(config).__name__} is configured without a critic "
            "(e.g. VPGConfig(baseline=False)); do not pass one, or enable it"
        )
    policy = default_policy(config, env, env_params) if policy is None else Policy(*policy)
    if not needs_critic:
        return policy, None
    critic = default_critic(config, env, env_params) if critic is None else Critic(*critic)
    return policy, critic


def finish(config: Any, env: Any, env_params: Any, algorithm: Algorithm) -> Algorithm:
    """The algorithm as the config asks for it: with observation normalisation and reward
    scaling when ``config.normalize_observations`` / ``normalize_rewards`` (every ``make_*``
    returns through here)."""
    return with_normalization(
        algorithm,
        observation_shape(env, env_params),
        config.num_envs,
        observations=config.normalize_observations,
        rewards=config.normalize_rewards,
        gamma=config.gamma,
        obs_clip=config.obs_clip,
        reward_clip=config.reward_clip,
    )


def on_policy_behaviour(policy: Policy) -> Callable[[Any, jax.Array], PolicyFn]:
    """``behaviour`` for algorithms that sample from the current policy."""

    def behaviour(agent: Any, iteration: jax.Array) -> PolicyFn:
        del iteration
        return sample_policy(policy.apply, agent.params["policy"])

    return behaviour


def trajectory_values(
    value_apply: Callable[[Any, jax.Array], jax.Array], value_params: Any, trajectory: Trajectory
) -> tuple[jax.Array, jax.Array]:
    """``V(obs)`` and ``V(next_obs)``, each ``[T, B]`` (next_obs is the real next observation)."""
    return value_apply(value_params, trajectory.obs), value_apply(value_params, trajectory.next_obs)


def check_finite_rewards(reward: jax.Array) -> jax.Array:
    """Scalar bool: every reward of the batch is finite."""
    return jax.numpy.isfinite(reward).all()


def flatten_batch(tree: Any) -> Any:
    """Merges the leading ``[T, B]`` axes of every leaf into one ``[T * B]`` axis."""
    return jax.tree.map(lambda x: x.reshape(int(np.prod(x.shape[:2])), *x.shape[2:]), tree)


def flat_adam(learning_rate: Any) -> optax.GradientTransformation:
    """Adam on the parameters raveled into one vector (`optax.flatten`): the same arithmetic
    per element, in one fused update instead of one per parameter leaf, which keeps the
    compiled program small (the moments are stored as vectors)."""
    return optax.flatten(optax.adam(learning_rate))


def clipped_adam(max_grad_norm: Any, learning_rate: Any) -> optax.GradientTransformation:
    """Adam after clipping the gradient's global norm to ``max_grad_norm`` (both on the
    raveled parameters, see `flat_adam`)."""
    return optax.flatten(
        optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate))
    )


def fit_value_full_batch(
    optimizer: optax.GradientTransformation,
    value_apply: Callable[[Any, jax.Array], jax.Array],
    value_params: Any,
    opt_state: Any,
    obs: jax.Array,
    targets: jax.Array,
    num_steps: int,
) -> tuple[Any, Any, jax.Array]:
    """``num_steps`` full-batch optimizer steps on ``mean((V(obs) - targets)^2) / 2``.

    Returns:
        ``(value_params, opt_state, first_loss)``: the loss before the first step.
    """

    def step(carry, _):
        params, state = carry
        loss, grads = jax.value_and_grad(lambda p: losses.value_loss(value_apply(p, obs), targets))(
            params
        )
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    (value_params, opt_state), step_losses = jax.lax.scan(
        step, (value_params, opt_state), None, num_steps
    )
    return value_params, opt_state, step_losses[0]
