"""The interface every algorithm implements, and the helpers they share.

An algorithm is an `Algorithm`: three pure functions over an algorithm-specific agent state
(a pytree whose ``params`` field is a dict with at least ``"policy"``). `jaxpg.train` drives it:
it collects a trajectory with ``behaviour(agent, iteration)``, then calls
``update(key, agent, trajectory, iteration)``. The same functions serve the host-side
gymnasium bridge, which collects the trajectory itself and calls the jitted ``update``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from jaxpg import losses
from jaxpg.config import BaseConfig
from jaxpg.networks import Policy, ValueNetwork, make_policy, make_value_network
from jaxpg.rollout import PolicyFn, Trajectory, sample_policy

Metrics = dict[str, jax.Array]


class Algorithm(NamedTuple):
    """An algorithm as pure functions.

    Attributes:
        init: ``key -> agent`` (parameters and optimiser states, a pytree with ``.params``).
        behaviour: ``(agent, iteration) -> policy_fn`` the policy that collects the data.
        update: ``(key, agent, trajectory, iteration) -> (agent, metrics)``; metrics are
            scalars.
        policy: the policy network (``policy.apply(agent.params["policy"], obs)``).
        needs_env_states: the trajectory must carry environment states (vine sampling).
    """

    init: Callable[[jax.Array], Any]
    behaviour: Callable[[Any, jax.Array], PolicyFn]
    update: Callable[[jax.Array, Any, Trajectory, jax.Array], tuple[Any, Metrics]]
    policy: Policy
    needs_env_states: bool = False


def observation_shape(env: Any, env_params: Any) -> tuple[int, ...]:
    """Shape of one observation."""
    return tuple(env.observation_space(env_params).shape)


def build_policy(config: BaseConfig, env: Any, env_params: Any) -> Policy:
    """The policy network the config asks for, for this environment's spaces."""
    return make_policy(
        env.action_space(env_params),
        observation_shape(env, env_params),
        hidden_sizes=config.hidden_sizes,
        activation=config.activation,
        init_log_std=getattr(config, "init_log_std", 0.0),
    )


def build_value_network(config: BaseConfig, env: Any, env_params: Any) -> ValueNetwork:
    """The value network the config asks for (``value_hidden_sizes`` if it has one)."""
    hidden = getattr(config, "value_hidden_sizes", None) or config.hidden_sizes
    return make_value_network(
        observation_shape(env, env_params), hidden_sizes=hidden, activation=config.activation
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


def clipped_adam(max_grad_norm: Any, learning_rate: Any) -> optax.GradientTransformation:
    """Adam after clipping the gradient's global norm to ``max_grad_norm``."""
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate))


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
